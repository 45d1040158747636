"""The command line shared by the tools that wrap one `pulumi` command of a stack (up, recover, destroy)."""

from __future__ import annotations

import argparse
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def stack_arguments(prog: str, doc: str, argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """The stack and project directory, and every other argument, passed on to `pulumi` as given."""
    parser = argparse.ArgumentParser(prog=f"python -m {prog}", description=doc.splitlines()[0])
    parser.add_argument("stack")
    parser.add_argument("--cwd", type=Path, default=PROJECT_DIR, help="the Pulumi project's directory")
    return parser.parse_known_args(argv)
