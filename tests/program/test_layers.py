"""The layering rule (docs/development.md): each layer imports only the layers above it."""

from __future__ import annotations

import ast
from pathlib import Path

from tools.render import PROJECT_DIR

PACKAGE = PROJECT_DIR / "components"
# Each layer, and the layers (its own included) whose modules it may import.
ALLOWED = {
    "configuration": {"configuration"},
    "specs": {"configuration", "specs"},
    "generated": {"configuration", "specs", "generated"},
    "resources": {"configuration", "specs", "generated", "resources"},
}
# Kept at the path that stacks created before the layers existed pickled (their state names it).
SHIMS = {"elasticsearch_cluster": {"generated"}}


def imported_modules(path: Path) -> list[str]:
    """Every module `path` imports, absolute."""
    modules = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.append(node.module)
            modules += [f"{node.module}.{alias.name}" for alias in node.names]
    return modules


def layer_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def program_layers(module: str) -> set[str]:
    """The layer a `components.*` import reaches into (none for other packages)."""
    parts = module.split(".")
    return {parts[1]} if parts[0] == "components" and len(parts) > 1 else set()


def test_every_module_belongs_to_a_layer() -> None:
    layers = {
        layer_of(path)
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py" or path.parent != PACKAGE
    }
    assert layers <= set(ALLOWED) | set(SHIMS), layers - set(ALLOWED) - set(SHIMS)


def test_each_layer_imports_only_the_layers_above_it() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent == PACKAGE and path.name == "__init__.py":
            continue
        layer = layer_of(path)
        allowed = ALLOWED.get(layer) or SHIMS[layer]
        for module in imported_modules(path):
            reached = program_layers(module) - allowed
            if reached and module.split(".")[1] in set(ALLOWED) | set(SHIMS):
                wrong.append(f"{path.relative_to(PROJECT_DIR)} ({layer}) imports {module}")
    assert not wrong, "\n".join(wrong)


def test_the_program_never_imports_tools_or_tests() -> None:
    sources = [*PACKAGE.rglob("*.py"), PROJECT_DIR / "__main__.py"]
    wrong = [
        f"{path.relative_to(PROJECT_DIR)} imports {module}"
        for path in sources
        for module in imported_modules(path)
        if module.split(".")[0] in ("tools", "tests")
    ]
    assert not wrong, "\n".join(wrong)


def test_only_main_reads_pulumi_config() -> None:
    readers = [
        str(path.relative_to(PROJECT_DIR))
        for path in PACKAGE.rglob("*.py")
        if "pulumi.Config(" in path.read_text() or "runtime.config" in path.read_text()
    ]
    assert readers == []
