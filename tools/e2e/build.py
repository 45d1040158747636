"""Build the e2e tools once, from the Go wrapper modules under tools/go/, into a cache.

Nothing here downloads a binary: every tool is compiled from modules that the Go module
proxy serves, at the versions pinned by each wrapper's go.mod and go.sum. Each tool lands
in `<cache>/tools/<name>-<version>/`, with a stamp of the inputs it was built from, so a
second run only checks stamps. The Kubernetes provider's version is not pinned here: it
is the one the installed `pulumi_kubernetes` wheel asks the engine for, and the build
refuses to go on when the wrapper was made for another release.

    python -m tools.e2e.build [--list]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
GO_DIR = PROJECT_DIR / "tools" / "go"
# Bump when the way a tool is built changes, so cached builds are not reused.
RECIPE = "1"
# The launcher of Python dynamic providers, which the CLI release ships beside the host.
DYNAMIC_PROVIDER = "pulumi-resource-pulumi-python"


class BuildError(Exception):
    """A tool could not be built; the message says which and why."""


def cache_root() -> Path:
    """Where built tools live: outside the repo, so `git clean` and fresh clones keep them."""
    configured = os.environ.get("ELK_STACK_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "elk-stack"


def required_version(wrapper: str, module: str) -> str:
    """The version a wrapper's go.mod pins `module` at (its require or replace line)."""
    text = (GO_DIR / wrapper / "go.mod").read_text()
    name = re.escape(module)
    replaced = re.search(rf"^\s*(?:replace\s+)?{name} => {name} (\S+)\s*$", text, re.M)
    if replaced:
        return replaced.group(1)
    required = re.search(rf"^\s*(?:require\s+)?{re.escape(module)} (\S+)(?:\s*//.*)?$", text, re.M)
    if required is None:
        raise BuildError(f"tools/go/{wrapper}/go.mod does not require {module}")
    return required.group(1)


def wheel_plugin_version(package: str = "pulumi_kubernetes") -> str:
    """The plugin version the installed wheel asks the engine for, from its pulumi-plugin.json."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BuildError(f"the Python package {package} is not installed; run `make test` to set up .venv")
    plugin_file = Path(next(iter(spec.submodule_search_locations))) / "pulumi-plugin.json"
    version = json.loads(plugin_file.read_text())["version"]
    return str(version).removeprefix("v")


def go_env(**extra: str) -> dict[str, str]:
    """The environment for `go`: static binaries, the committed go.sum only, the local toolchain."""
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly", "GOWORK": "off"}
    env.setdefault("GOTOOLCHAIN", "local")
    return {**env, **extra}


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a build step; on failure raise with the command and the tail of its output."""
    result = subprocess.run(
        command, cwd=cwd, env=env or go_env(), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise BuildError(f"`{' '.join(command)}` failed in {cwd}:\n{tail}")
    return result.stdout


def module_dir(wrapper: str, module: str) -> Path:
    """A required module's directory in the module cache, downloaded (and checked) if missing.

    `go list -m` prints an empty directory for a module not yet downloaded, which a warm
    cache hides; `go mod download` fetches it at the wrapper's pinned version first.
    """
    listing = json.loads(run(["go", "mod", "download", "-json", module], GO_DIR / wrapper))
    directory = listing.get("Dir", "")
    if not directory or not Path(directory).is_dir():
        raise BuildError(f"`go mod download {module}` in tools/go/{wrapper} gave no directory: {listing}")
    return Path(directory)


def go_build(wrapper: str | Path, package: str, output: Path, ldflags: str = "") -> None:
    """`go build` one main package of a wrapper module into `output`."""
    cwd = wrapper if isinstance(wrapper, Path) else GO_DIR / wrapper
    flags = f"-s -w {ldflags}".strip()
    run(["go", "build", "-trimpath", "-ldflags", flags, "-o", str(output), package], cwd)


@dataclass(frozen=True)
class Tool:
    """One binary: where it is built from, how, and what it is cached under."""

    binary: str
    piece: str
    version: str
    build: Callable[[Path], None]
    inputs: tuple[str, ...]
    piece_version: str = ""
    """The version in the directory's name, when the binary lives beside another tool."""

    @property
    def directory(self) -> Path:
        """`<cache>/tools/<piece>-<version>`: a new version never overwrites an old build."""
        return cache_root() / "tools" / f"{self.piece}-{self.piece_version or self.version}"

    @property
    def path(self) -> Path:
        """The built binary."""
        return self.directory / self.binary

    def stamp(self) -> str:
        """A digest of everything the binary is built from; a changed wrapper rebuilds it."""
        digest = hashlib.sha256(RECIPE.encode())
        for wrapper in self.inputs:
            for name in ("go.mod", "go.sum"):
                digest.update((GO_DIR / wrapper / name).read_bytes())
        return digest.hexdigest()

    def stamp_file(self) -> Path:
        """Written last, so an interrupted build is never taken for a finished one."""
        return self.directory / f".{self.binary}.stamp"

    def is_built(self) -> bool:
        """The binary exists and was built from the wrappers as they are now."""
        stamp = self.stamp_file()
        return self.path.exists() and stamp.exists() and stamp.read_text() == self.stamp()


def kubernetes_tools() -> list[Tool]:
    """kube-apiserver, kube-controller-manager, kube-scheduler and kubectl, all of one release."""
    version = required_version("kubernetes", "k8s.io/kubernetes")
    major, minor = version.removeprefix("v").split(".")[:2]
    ldflags = " ".join(
        f"-X {package}.{key}={value}"
        for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for key, value in (
            ("gitVersion", version),
            ("gitMajor", major),
            ("gitMinor", minor),
            ("gitTreeState", "clean"),
        )
    )

    def builder(command: str) -> Callable[[Path], None]:
        return lambda out: go_build("kubernetes", f"k8s.io/kubernetes/cmd/{command}", out, ldflags)

    commands = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
    return [Tool(c, "kubernetes", version, builder(c), ("kubernetes",)) for c in commands]


def etcd_tool() -> Tool:
    """etcd: the server module's root package is its main."""
    version = required_version("etcd", "go.etcd.io/etcd/server/v3")
    return Tool(
        "etcd",
        "etcd",
        version,
        lambda out: go_build("etcd", "go.etcd.io/etcd/server/v3", out),
        ("etcd",),
    )


def kwok_tool() -> Tool:
    """kwok, with its stage files (node and pod lifecycles) copied beside the binary."""
    version = required_version("kwok", "sigs.k8s.io/kwok")

    def build(out: Path) -> None:
        flag = f"-X sigs.k8s.io/kwok/pkg/consts.Version={version}"
        go_build("kwok", "sigs.k8s.io/kwok/cmd/kwok", out, flag)
        stages = module_dir("kwok", "sigs.k8s.io/kwok") / "kustomize" / "stage"
        target = out.parent / "stage"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(stages, target, ignore=shutil.ignore_patterns("*.go", "testdata"))
        _make_writable(target)

    return Tool("kwok", "kwok", version, build, ("kwok",))


def pulumi_tools() -> list[Tool]:
    """The Pulumi CLI and, beside it, the Python language host and the scripts it needs.

    The CLI finds a language host next to its own binary, and the host refuses to start
    without `pulumi-language-python-exec` next to its own. Both scripts (and the dynamic
    provider's launcher) come from the CLI's own sdk/v3 module, as in a release archive.
    """
    version = required_version("pulumi", "github.com/pulumi/pulumi/pkg/v3")
    host_version = required_version("pulumi-language-python", "github.com/pulumi/pulumi/sdk/v3")
    version_flag = "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version="

    def build_cli(out: Path) -> None:
        go_build("pulumi", "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi", out, version_flag + version)

    def build_host(out: Path) -> None:
        package = "github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python"
        go_build("pulumi-language-python", package, out, version_flag + host_version)
        sdk = module_dir("pulumi", "github.com/pulumi/pulumi/sdk/v3") / "python"
        for script in (sdk / "cmd" / "pulumi-language-python-exec", sdk / "dist" / DYNAMIC_PROVIDER):
            shutil.copyfile(script, out.parent / script.name)
            (out.parent / script.name).chmod(0o755)

    return [
        Tool("pulumi", "pulumi", version, build_cli, ("pulumi",)),
        Tool(
            "pulumi-language-python",
            "pulumi",
            host_version,
            build_host,
            ("pulumi", "pulumi-language-python"),
            piece_version=version,
        ),
    ]


def provider_tool() -> Tool:
    """The Kubernetes provider at exactly the wheel's version, from that release's commit.

    Its main package embeds files that `generate.go` writes from the committed schema, and
    the module cache is read-only, so the package is copied into a scratch module first.
    """
    wanted = wheel_plugin_version()
    release = required_version("pulumi-kubernetes", "github.com/pulumi/pulumi-kubernetes/sdk/v4")
    if release.removeprefix("v") != wanted:
        raise BuildError(
            f"pulumi_kubernetes {wanted} asks for provider {wanted}, but tools/go/pulumi-kubernetes "
            f"builds release {release.removeprefix('v')}; pin the wheel and the wrapper to one release"
        )

    def build(out: Path) -> None:
        source = module_dir("pulumi-kubernetes", "github.com/pulumi/pulumi-kubernetes/provider/v4")
        with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
            work = Path(scratch)
            for name in ("go.mod", "go.sum"):
                shutil.copyfile(GO_DIR / "pulumi-kubernetes" / name, work / name)
            main = source / "cmd" / "pulumi-resource-kubernetes"
            for name in ("main.go", "generate.go", "schema.json", "terraform-mapping.json"):
                shutil.copyfile(main / name, work / name)
            run(["go", "run", "generate.go"], work, go_env(VERSION=wanted))
            flag = f"-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version={wanted}"
            go_build(work, ".", out, flag)

    binary = "pulumi-resource-kubernetes"
    return Tool(binary, binary, wanted, build, ("pulumi-kubernetes",))


def all_tools() -> list[Tool]:
    """Every binary `make e2e` needs, cheapest first, so a failure shows up early."""
    return [etcd_tool(), kwok_tool(), *pulumi_tools(), provider_tool(), *kubernetes_tools()]


def _make_writable(path: Path) -> None:
    """Files copied from the read-only module cache keep its modes; let a rebuild replace them."""
    for entry in [path, *path.rglob("*")]:
        entry.chmod(entry.stat().st_mode | 0o200)


def build(tool: Tool) -> tuple[str, float]:
    """Build one tool unless its stamp says it is current; return what happened and the time."""
    if tool.is_built():
        return "cached", 0.0
    tool.directory.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    partial = tool.directory / f".{tool.binary}.partial"
    tool.build(partial)
    partial.replace(tool.path)
    tool.stamp_file().write_text(tool.stamp())
    return "built", time.monotonic() - start


def pulumi_home() -> Path:
    """The engine's home: its plugin cache, kept beside the tools and keyed by their versions."""
    return cache_root() / "pulumi-home"


def engine_env() -> dict[str, str]:
    """Variables for the engine built here: it never reaches out, and it runs the project's venv.

    No update check and no plugin download. The v3.68 language host takes the virtualenv
    from a command-line flag that today's CLI no longer passes (it sends Pulumi.yaml's
    options over RPC instead), so the interpreter is named by PULUMI_PYTHON_CMD, which both
    the host and the dynamic-provider launcher honour.
    """
    return {
        "PULUMI_PYTHON_CMD": str(PROJECT_DIR / ".venv" / "bin" / "python"),
        "PULUMI_HOME": str(pulumi_home()),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
    }


def tool_path_dirs() -> list[str]:
    """Directories to put first on PATH so the built tools win over anything installed.

    Not the provider's: on PATH the engine would take it as an "ambient" plugin of any
    version; from PULUMI_HOME it is used only under the exact version the wheel asks for.
    """
    provider = provider_tool().directory
    return list(dict.fromkeys(str(tool.directory) for tool in all_tools() if tool.directory != provider))


def install_provider_plugin() -> Path:
    """Put the built provider into the engine's plugin cache under the exact version it is asked for."""
    provider = provider_tool()
    installed = pulumi_home() / "plugins" / f"resource-kubernetes-v{provider.version}" / provider.binary
    if installed.exists() and installed.stat().st_mtime >= provider.path.stat().st_mtime:
        return installed
    pulumi = next(tool for tool in pulumi_tools() if tool.binary == "pulumi")
    command = [str(pulumi.path), "plugin", "install", "resource", "kubernetes", provider.version]
    run([*command, "--file", str(provider.path)], PROJECT_DIR, {**os.environ, **engine_env()})
    return installed


def main(argv: list[str] | None = None) -> int:
    """Build what is missing, one progress line per tool; errors are one message and exit 1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print each tool's path and exit")
    args = parser.parse_args(argv)
    try:
        tools = all_tools()
        if args.list:
            for tool in tools:
                print(tool.path)
            return 0
        total = time.monotonic()
        for tool in tools:
            what, seconds = build(tool)
            timing = f" in {seconds:.0f} s" if what == "built" else ""
            print(f"e2e-tools: {tool.binary} {tool.version}: {what}{timing}", flush=True)
        plugin = install_provider_plugin()
        print(f"e2e-tools: provider plugin installed for the engine: {plugin}")
        print(f"e2e-tools: all {len(tools)} tools ready in {time.monotonic() - total:.1f} s ({cache_root()})")
    except BuildError as error:
        print(f"e2e-tools: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
