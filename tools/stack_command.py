"""What the tools wrapping one `pulumi` command of a stack (up, recover, destroy) share."""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent


def stack_arguments(prog: str, doc: str, argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """The stack and project directory, and every other argument, passed on to `pulumi` as given."""
    parser = argparse.ArgumentParser(prog=f"python -m {prog}", description=doc.splitlines()[0])
    parser.add_argument("stack")
    parser.add_argument("--cwd", type=Path, default=PROJECT_DIR, help="the Pulumi project's directory")
    return parser.parse_known_args(argv)


def exported_state(
    stack: str, cwd: Path, *flags: str, env: dict[str, str] | None = None
) -> dict[str, Any] | str:
    """The stack's state as `pulumi stack export` writes it (with `flags`), or why it could not be read."""
    exported = subprocess.run(
        ["pulumi", "stack", "export", "--stack", stack, *flags],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if exported.returncode != 0:
        return exported.stderr.strip()
    return json.loads(exported.stdout)  # type: ignore[no-any-return]
