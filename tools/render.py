"""Offline render: run the real `__main__.py` under Pulumi mocks and write its manifests.

There is no cluster and no Pulumi CLI on the machines that build this project, so the
render is how we see what `pulumi up` would apply. The mocks echo each resource's inputs
back as its state, which for Kubernetes resources is exactly the manifest. Resource
options (protect, retainOnDelete, ...) never reach `Mocks.new_resource`, so a recording
monitor captures them from the registration requests.

    python -m tools.render qa [--out build] [--show-secrets]
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import hashlib
import json
import logging
import os
import re
import runpy
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pulumi
import yaml
from pulumi.dynamic.dynamic import PROVIDER_KEY
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks
from pulumi.runtime.settings import get_root_resource, set_root_resource
from pulumi.runtime.stack import run_pulumi_func

from components.configuration.loading import mistyped_prefix_warnings
from tools.stack_file import StackFileError as StackFileError  # re-exported for tools and tests
from tools.stack_file import read_config

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT = "elk-stack"
REDACTED = "<redacted: render with --show-secrets to see it>"
# A Secret value written with --show-secrets: readable, but never valid base64 (see unappliable_secret).
SHOWN = "<render only, not base64: {value}>"
# Order of the files, dependencies first, so a reader meets each object before what uses it.
# Not for `kubectl apply`: rendered Secrets are refused on purpose (see unappliable_secret).
KIND_ORDER = {
    "Namespace": 0,
    "ServiceAccount": 1,
    "Secret": 2,
    "ConfigMap": 3,
    "PersistentVolumeClaim": 4,
    "Service": 5,
}
WORKLOAD_ORDER = 6
# What a render writes besides one `.yaml` file per object.
RENDER_FILES = {"resources.json", "outputs.json"}
# Pulumi's own rule for stack names.
STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


@dataclass
class Rendered:
    """What one run of the program produced."""

    manifests: list[dict[str, Any]] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """The program's `pulumi.log.info` messages: the plan's explanations, not problems."""


class _Collector(logging.Handler):
    """Keeps the program's `pulumi.log.warn` and `info` messages, which `pulumi preview` would show."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []
        self.notes: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        kept = self.messages if record.levelno >= logging.WARNING else self.notes
        kept.append(record.getMessage())


def _find_secure(value: Any, path: str) -> list[str]:
    """Paths of `secure:` (encrypted) values, which need the stack's key to decrypt."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return [path]
        return [p for k, v in value.items() for p in _find_secure(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _find_secure(v, f"{path}[{i}]")]
    return []


def stack_file_path(stack: str, project_dir: Path = PROJECT_DIR, path: Path | None = None) -> Path:
    """`path` if given, else `Pulumi.<stack>.yaml` in the project; either must exist."""
    if path is None:
        path = project_dir / f"Pulumi.{stack}.yaml"
        if not path.is_file():
            raise StackFileError(f"no stack file {path.name} in {project_dir}")
    elif not path.is_file():
        raise StackFileError(f"no stack file {path.resolve()}")
    return path


def read_stack(
    stack: str, project_dir: Path = PROJECT_DIR, path: Path | None = None
) -> tuple[dict[str, str], list[str]]:
    """The flat `project:key` strings Pulumi would pass on, and warnings about the other keys.

    Keys of other namespaces (`kubernetes:*`, ...) configure providers, not this program,
    and are left out; a namespace that looks like a misspelt `elk-stack` gets a warning.
    """
    path = stack_file_path(stack, project_dir, path)
    entries = read_config(path)
    config = {key if ":" in key else f"{PROJECT}:{key}": value for key, value in entries.items()}
    config = {key: value for key, value in config.items() if key.startswith(f"{PROJECT}:")}
    secure = [p for key, value in config.items() for p in _find_secure(value, key)]
    if secure:
        raise StackFileError(
            f"{path.name}: {', '.join(secure)} is encrypted (secure:), which the offline "
            "render cannot decrypt; use `pulumi preview` for this stack, or a plain value here"
        )
    text = {key: value if isinstance(value, str) else json.dumps(value) for key, value in config.items()}
    return text, [f"{path.name}: {warning}" for warning in mistyped_prefix_warnings(entries)]


def stack_config(stack: str, project_dir: Path = PROJECT_DIR, path: Path | None = None) -> dict[str, str]:
    """Read `Pulumi.<stack>.yaml` (or `path`) into the flat `project:key` strings Pulumi passes on."""
    return read_stack(stack, project_dir, path)[0]


def _plain(value: Any, show_secrets: bool) -> Any:
    """Unwrap Pulumi secrets, and turn whole floats (from protobuf) back into ints."""
    if isinstance(value, dict):
        if rpc._special_sig_key in value:
            return _plain(value["value"], show_secrets) if show_secrets else REDACTED
        return {k: _plain(v, show_secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, show_secrets) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def unappliable_secret(manifest: dict[str, Any]) -> dict[str, Any]:
    """A Secret as the render writes it: every value in `data`, as text that is not base64.

    kube-apiserver reads `data` as base64 and refuses the whole Secret when a value is not
    ("illegal base64 data at input byte 0"), whereas `stringData` takes any text. Rendered
    values are redacted or mock, so a mistaken `kubectl apply` must fail on them rather
    than install fake credentials; each value starts with `<`, which base64 never does.
    """
    values = {**manifest.get("data", {}), **manifest.get("stringData", {})}
    written = {k: v if v == REDACTED else SHOWN.format(value=v) for k, v in values.items()}
    rest = {key: value for key, value in manifest.items() if key not in ("data", "stringData")}
    return {**rest, "data": written}


def _redact_secret(manifest: dict[str, Any]) -> dict[str, Any]:
    """A Secret with every value replaced: the mocks do not know which outputs are secret."""
    redacted = dict(manifest)
    for field_name in ("data", "stringData"):
        if field_name in redacted:
            redacted[field_name] = dict.fromkeys(redacted[field_name], REDACTED)
    return redacted


def _parent_ref(urn: str) -> str | None:
    """`type::name` of a resource from its URN; mock URNs are not the engine's, so keep it short."""
    if not urn:
        return None
    parts = urn.split("::")
    return f"{parts[2].split('$')[-1]}::{parts[3]}"


def _placeholder(kind: str, name: str) -> str:
    """A stable stand-in for a value a provider computes; clearly not a real one."""
    return f"mock-{kind}-{hashlib.sha256(name.encode()).hexdigest()[:24]}"


# Outputs that providers compute and programs consume. Without them a Secret built from
# a generated password or certificate would render empty.
COMPUTED_OUTPUTS = {
    "pulumi-python:dynamic/elk-stack:GeneratedPassword": {"result": "password"},
    "pulumi-python:dynamic/elk-stack:PasswordHash": {"hash": "bcrypt-hash"},
    "pulumi-python:dynamic/elk-stack:CertificateAuthority": {
        "cert_pem": "ca-certificate",
        "private_key_pem": "ca-private-key",
    },
    "pulumi-python:dynamic/elk-stack:LeafCertificate": {
        "cert_pem": "certificate",
        "private_key_pem": "private-key",
    },
}


class EchoMocks(Mocks):
    """Each resource's state is its inputs (plus placeholders); invokes fail loudly."""

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        """The inputs as the state, with placeholders for what a provider would compute."""
        state = dict(args.inputs)
        for output, kind in COMPUTED_OUTPUTS.get(args.typ, {}).items():
            state[output] = _placeholder(kind, args.name)
        return f"{args.name}-id", state

    def call(self, args: MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        """No invoke is expected: fail with its token."""
        raise NotImplementedError(f"the offline render does not answer invoke {args.token}")


class _RecordingMonitor(MockMonitor):
    """A mock monitor that also records each registration's resource options."""

    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self.lock = threading.Lock()
        self.registrations: list[dict[str, Any]] = []

    @staticmethod
    def _timeouts(request: Any) -> dict[str, str] | None:
        """The custom create/update/delete timeouts that are set, or None for the provider's."""
        timeouts = request.customTimeouts
        values = {op: getattr(timeouts, op) for op in ("create", "update", "delete")}
        return {op: value for op, value in values.items() if value} or None

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method name
        if request.type != "pulumi:pulumi:Stack":
            entry = {
                "type": request.type,
                "name": request.name,
                "parent": _parent_ref(request.parent),
                "custom": request.custom,
                "protect": request.protect if request.HasField("protect") else None,
                "retainOnDelete": request.retainOnDelete if request.HasField("retainOnDelete") else None,
                "ignoreChanges": sorted(request.ignoreChanges),
                "replaceOnChanges": sorted(request.replaceOnChanges),
                "dependsOn": sorted(filter(None, map(_parent_ref, request.dependencies))),
                # Which inputs hold another resource's outputs: a replaced resource takes the
                # resources whose inputs hold its outputs with it (tests/invariants.py).
                "propertyDependencies": {
                    key: sorted(filter(None, map(_parent_ref, deps.urns)))
                    for key, deps in sorted(request.propertyDependencies.items())
                    if deps.urns
                },
                "deleteBeforeReplace": (
                    request.deleteBeforeReplace if request.deleteBeforeReplaceDefined else None
                ),
                "customTimeouts": self._timeouts(request),
                "additionalSecretOutputs": sorted(request.additionalSecretOutputs),
                "deletedWith": _parent_ref(request.deletedWith),
            }
            if request.custom and not request.type.startswith("kubernetes:"):
                # Generated passwords and certificates: their settings (lengths, validity,
                # renewal windows) are only visible here. Secret inputs stay redacted; the
                # pickled dynamic provider says nothing about the resource.
                inputs = rpc.deserialize_properties(request.object)
                inputs.pop(PROVIDER_KEY, None)
                entry["inputs"] = _plain(inputs, show_secrets=False)
            with self.lock:
                self.registrations.append(entry)
        return super().RegisterResource(request)  # type: ignore[no-untyped-call]


async def _stack_outputs() -> dict[str, Any]:
    """Resolve `pulumi.export`ed values; secret ones stay wrapped so they can be redacted.

    Under mocks the root Stack registers its outputs before the program runs, so the
    exports are read from the Stack object itself.
    """
    exports: dict[str, Any] = getattr(get_root_resource(), "outputs", {})
    outputs: dict[str, Any] = {}
    for name, value in exports.items():
        output = pulumi.Output.from_input(value)
        resolved = await output.future()
        outputs[name] = (
            {rpc._special_sig_key: rpc._special_secret_sig, "value": resolved}
            if await output.is_secret()
            else resolved
        )
    return outputs


_T = TypeVar("_T")


def _call_with_own_loop(fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """Run `fn` with an event loop of its own, closed in this same thread when `fn` returns."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return fn(*args, **kwargs)
    finally:
        asyncio.set_event_loop(None)
        loop.close()


class _LoopClosingExecutor(ThreadPoolExecutor):
    """The render loop's default executor, where the SDK runs the mock monitor's calls.

    Those calls need an event loop in their thread, and the SDK's `_ensure_event_loop`
    gives each worker thread one that nobody closes. When the thread ends, that loop is
    cyclic garbage (loop -> selector -> self-pipe reader -> loop) together with its
    self-pipe sockets. If the collector finalizes a socket first, the loop's `__del__`
    finds fd -1 and prints "Exception ignored in: BaseEventLoop.__del__ ... Invalid file
    descriptor: -1", now and then, as the order of collection varies. Joining the threads
    only moves that moment. Here each call brings its own loop and closes it in its own
    thread when it returns, so no unclosed loop is left to collect.
    """

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        return super().submit(_call_with_own_loop, fn, *args, **kwargs)


def _run(config: dict[str, str], stack: str, program: Path, show_secrets: bool, mocks: Mocks) -> Rendered:
    loop = asyncio.new_event_loop()
    loop.set_default_executor(_LoopClosingExecutor())
    asyncio.set_event_loop(loop)
    try:
        set_root_resource(None)  # type: ignore[arg-type]  # the SDK's own reset value
        pulumi.runtime.set_all_config(config)
        monitor = _RecordingMonitor(mocks)
        collector = _Collector()
        logger = logging.Logger(f"{PROJECT}.render")
        logger.addHandler(collector)
        pulumi.runtime.set_mocks(
            monitor.mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor, logger=logger
        )

        def program_run() -> None:
            runpy.run_path(str(program), run_name="__main__")

        loop.run_until_complete(run_pulumi_func(program_run))
        outputs = loop.run_until_complete(_stack_outputs())
    finally:
        set_root_resource(None)  # type: ignore[arg-type]
        # Join the worker threads, so that none outlives the render.
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
        asyncio.set_event_loop(None)
    rendered = Rendered(
        outputs=_plain(outputs, show_secrets), warnings=collector.messages, notes=collector.notes
    )
    for urn, registration in sorted(monitor.resources.items()):
        kind_type = urn.split("::")[2].split("$")[-1]
        if kind_type.startswith("kubernetes:"):
            is_secret = registration.state.get("kind") == "Secret"
            # A Secret's keys are shown even when its (wrapped) values are not.
            manifest = _plain(registration.state, show_secrets or is_secret)
            if is_secret and not show_secrets:
                manifest = _redact_secret(manifest)
            rendered.manifests.append(manifest)
    rendered.resources = sorted(monitor.registrations, key=lambda r: (r["type"], r["name"]))
    return rendered


def run_program(
    config: dict[str, str],
    stack: str = "test",
    project_dir: Path = PROJECT_DIR,
    show_secrets: bool = False,
    mocks: Mocks | None = None,
) -> Rendered:
    """Run `__main__.py` under mocks with the given flat config; raise what the program raises.

    Each run gets a fresh contextvars context, so config and the root Stack never leak
    from one run into the next in the same process. `mocks` replaces the echoing mocks,
    e.g. with ones that generate real secrets (tools/real_es/secrets.py).
    """
    if str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))
    context = contextvars.copy_context()
    program = project_dir / "__main__.py"
    return context.run(_run, config, stack, program, show_secrets, mocks or EchoMocks())


class _ManifestDumper(yaml.SafeDumper):
    """Writes multi-line strings (settings files, pipelines) as readable `|` blocks."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_ManifestDumper.add_representer(str, _represent_text)


def manifest_file_name(manifest: dict[str, Any]) -> str:
    """`<order>-<kind>-<name>.yaml`: namespace, accounts, Secrets, config, claims, Services, then the rest."""
    kind = manifest["kind"]
    order = KIND_ORDER.get(kind, WORKLOAD_ORDER)
    return f"{order:02d}-{kind.lower()}-{manifest['metadata']['name']}.yaml"


def write_build(rendered: Rendered, out_dir: Path) -> None:
    """Replace `out_dir` with the rendered files in one step, so a failed render changes nothing."""
    try:
        _write_build(rendered, out_dir)
    except OSError as error:
        raise StackFileError(f"cannot write {out_dir}: {error.strerror or error}") from None


def _write_build(rendered: Rendered, out_dir: Path) -> None:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        staging.chmod(0o755)  # mkdtemp's 0700 would hide the manifests from other users
        for manifest in rendered.manifests:
            if manifest["kind"] == "Secret":
                manifest = unappliable_secret(manifest)
            (staging / manifest_file_name(manifest)).write_text(
                yaml.dump(manifest, Dumper=_ManifestDumper, sort_keys=True, default_flow_style=False)
            )
        resources = json.dumps(rendered.resources, indent=2, sort_keys=True)
        (staging / "resources.json").write_text(resources + "\n")
        (staging / "outputs.json").write_text(json.dumps(rendered.outputs, indent=2, sort_keys=True) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def output_dir(stack: str, out_root: Path) -> Path:
    """`<out_root>/<stack>`, for a valid Pulumi stack name only.

    The directory is replaced whole, so a name like `..` or `.` (or one with a slash) would
    replace the project or all of `build/`: refuse anything but a plain child of `out_root`.
    """
    if not STACK_NAME.fullmatch(stack) or stack in {".", ".."}:
        raise StackFileError(
            f"{stack!r} is not a stack name: use 1 to 100 letters, digits, '-', '_' or '.', not '.' or '..'"
        )
    out_dir = out_root / stack
    if out_root.exists() and not out_root.is_dir():
        raise StackFileError(f"{out_root} is not a directory; choose another --out")
    if out_dir.resolve().parent != out_root.resolve():
        raise StackFileError(f"{out_dir} is not directly inside {out_root}; refusing to write there")
    if out_dir.exists() and not is_render(out_dir):
        raise StackFileError(
            f"{out_dir} exists and is not the output of an earlier render; refusing to replace it "
            "(choose another --out or stack name, or remove it yourself)"
        )
    return out_dir


def is_render(directory: Path) -> bool:
    """Whether `directory` holds only what a render writes, so replacing it loses nothing else.

    `--out . ` with a stack named `.git` or `pipelines` must not replace those directories.
    """
    if directory.is_symlink() or not directory.is_dir():
        return False
    return all(
        entry.is_file() and not entry.is_symlink() and (entry.suffix == ".yaml" or entry.name in RENDER_FILES)
        for entry in directory.iterdir()
    )


def render(
    stack: str, out_root: Path, show_secrets: bool = False, stack_file: Path | None = None
) -> tuple[Path, list[str]]:
    """Render `Pulumi.<stack>.yaml` into `<out_root>/<stack>/`; return it and the program's warnings.

    The stack file's own warnings are printed at once: a misspelt key is most useful next
    to the error it causes.
    """
    out_dir = output_dir(stack, out_root)
    config, stack_warnings = read_stack(stack, path=stack_file)
    for warning in stack_warnings:
        print_warning(warning)
    rendered = run_program(config, stack=stack, show_secrets=show_secrets)
    write_build(rendered, out_dir)
    for note in rendered.notes:
        print(f"info: {note}", file=sys.stderr)
    return out_dir, rendered.warnings


def print_warning(message: str) -> None:
    """One `warning:` line on stderr, as `pulumi preview` would show it."""
    print(f"warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point: exit status 0 when rendered, 1 for bad input, 2 for a bad command line.

    Bad input (a stack file or config the program refuses) is one clear message on stderr;
    argparse reports a wrong command line.
    """
    parser = argparse.ArgumentParser(prog="python -m tools.render", description=__doc__.splitlines()[0])
    parser.add_argument("stack", help="stack name: renders Pulumi.<stack>.yaml")
    parser.add_argument(
        "--out", type=Path, default=PROJECT_DIR / "build", help="output root (default: build/)"
    )
    parser.add_argument(
        "--show-secrets", action="store_true", help="write Secret values instead of redacting them"
    )
    parser.add_argument(
        "--stack-file", type=Path, help="read the config from this file instead of Pulumi.<stack>.yaml"
    )
    args = parser.parse_args(argv)
    try:
        out_dir, warnings = render(args.stack, args.out, args.show_secrets, args.stack_file)
    except (StackFileError, pulumi.RunError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for warning in warnings:
        print_warning(warning)
    count = sum(1 for _ in out_dir.glob("*.yaml"))
    print(f"rendered {count} manifests for stack {args.stack!r} into {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
