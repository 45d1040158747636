"""Offline render: run the real `__main__.py` under Pulumi mocks and write its manifests.

There is no cluster and no Pulumi CLI on the machines that build this project, so the
render is how we see what `pulumi up` would apply. The mocks echo each resource's inputs
back as its state, which for Kubernetes resources is exactly the manifest. Resource
options (protect, retainOnDelete, ...) never reach `Mocks.new_resource`, so a recording
monitor captures them from the registration requests.

    python -m tools.render qa [--out build] [--show-secrets]

This module reads the stack file, holds the echoing mocks and the command line;
`tools.render_runtime` runs the program under the mocks and `tools.render_output` writes
the build directory.
"""

from __future__ import annotations

import argparse
import contextvars
import gc
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs, Mocks

from components.configuration.loading import mistyped_prefix_warnings
from tools.render_output import manifest_file_name as manifest_file_name  # re-exported for tests
from tools.render_output import output_dir, write_build
from tools.render_output import unappliable_secret as unappliable_secret  # re-exported for tests
from tools.render_runtime import PROJECT, _run
from tools.render_runtime import REDACTED as REDACTED  # re-exported for tests
from tools.render_runtime import Rendered as Rendered  # re-exported for tools and tests
from tools.render_runtime import _plain as _plain  # re-exported for tools and tests
from tools.render_runtime import _RecordingMonitor as _RecordingMonitor  # re-exported for tests
from tools.stack_file import StackFileError as StackFileError  # re-exported for tools and tests
from tools.stack_file import read_config

PROJECT_DIR = Path(__file__).resolve().parent.parent


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
    # A render is one short process that frees everything at exit. The cyclic collector
    # would walk the SDK's and the mocks' object graph again and again as resources are
    # registered (about a fifth of a qa render, measured with `make bench`); it is off
    # for the rest of the process, and what the imports made is frozen out of its way.
    gc.freeze()
    gc.disable()
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
