"""Small pieces: no Python source file over 500 lines, no function over 60 (docs/development.md).

A long constructor or module hides how the program works; this keeps the shape that the
layer folders give from eroding one line at a time.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tools.render import PROJECT_DIR

MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 60
ROOTS = ("components", "tools", "tests", "__main__.py")


def sources() -> list[Path]:
    """Every Python file of the project (the virtualenv and build output excluded)."""
    found: list[Path] = []
    for root in ROOTS:
        path = PROJECT_DIR / root
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return found


def test_no_source_file_is_over_500_lines() -> None:
    long = [
        f"{p.relative_to(PROJECT_DIR)}: {n}"
        for p in sources()
        if (n := p.read_text().count("\n")) > MAX_FILE_LINES
    ]
    assert long == []


def test_no_function_is_over_60_lines() -> None:
    long = [
        f"{path.relative_to(PROJECT_DIR)}:{node.lineno} {node.name}: {length}"
        for path in sources()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (length := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_FUNCTION_LINES
    ]
    assert long == []
