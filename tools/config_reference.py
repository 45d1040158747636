"""Generate the README's config reference from the pydantic models in `components/config/`.

The models are the single source of truth for keys, types, defaults and descriptions, so
the reference is generated from them and a test fails when the README's copy is stale.
Keys are written as full paths, the way `pulumi config set --path` takes them.

    python -m tools.config_reference [--check]
"""

from __future__ import annotations

import argparse
import sys
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from components.config import DnsLabel, JvmSize, LogstashBytes, Quantity, StackConfig

PROJECT_DIR = Path(__file__).resolve().parent.parent
README = PROJECT_DIR / "README.md"
START = "<!-- config-reference:start -->"
END = "<!-- config-reference:end -->"
NAMED_TYPES: dict[Any, str] = {
    Quantity: "quantity",
    JvmSize: "JVM size",
    LogstashBytes: "Logstash bytes",
    DnsLabel: "DNS label",
}
PLAIN_TYPES: dict[Any, str] = {str: "string", int: "integer", bool: "boolean"}


@dataclass(frozen=True)
class Row:
    """One key of the reference: where it is, what it takes, and what it means."""

    key: str
    type: str
    default: str
    description: str


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds (`Storage`, `Ingress | None`), or None for a plain value."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def type_name(annotation: Any) -> str:
    """A short human name for a field's type, e.g. `quantity` or `list of DNS label`."""
    if annotation in NAMED_TYPES:
        return NAMED_TYPES[annotation]
    if annotation in PLAIN_TYPES:
        return PLAIN_TYPES[annotation]
    if typing.get_origin(annotation) is Literal:
        return " \\| ".join(f"`{value}`" for value in typing.get_args(annotation))
    if typing.get_origin(annotation) is list:
        return f"list of {type_name(typing.get_args(annotation)[0])}"
    if typing.get_origin(annotation) is Annotated:
        return type_name(typing.get_args(annotation)[0])
    options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if len(options) == 1:
        return type_name(options[0])
    if _nested_model(annotation):
        return "object"
    return str(annotation)


def field_type(field: FieldInfo) -> str:
    """The type of a field, with its validator metadata (`Quantity` is `str` plus validators)."""
    if _nested_model(field.annotation):
        return "object"
    validators = [item for item in field.metadata if hasattr(item, "func")]
    if validators:
        return type_name(Annotated[(field.annotation, *validators)])
    return type_name(field.annotation)


def _own_default(field: FieldInfo) -> Any:
    """The field's default; a model class used as its own factory counts as its fields' defaults."""
    if field.default is not PydanticUndefined:
        return field.default
    factory = field.default_factory
    if factory is None or _nested_model(factory):
        return PydanticUndefined
    return factory()  # type: ignore[call-arg]


def format_default(value: Any) -> str:
    """A default as the reference shows it: a literal value, or a dash for "not set"."""
    if value is None or value == []:
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def rows(model: type[BaseModel], prefix: str = "", defaults: BaseModel | None = None) -> Iterator[Row]:
    """Every key of `model`, depth-first, with defaults taken from an enclosing default object.

    `defaults` is the value an enclosing object defaults to (e.g. `Storage(size="10Gi")`),
    which is where a key like `elasticsearch.storage.size` gets its default from.
    """
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        description = field.description or ""
        nested = _nested_model(field.annotation)
        default = getattr(defaults, name) if defaults is not None else _own_default(field)
        if nested is not None:
            yield Row(key, "object", "—" if default is None else "", description)
            yield from rows(nested, f"{key}.", default if isinstance(default, BaseModel) else None)
        elif field.is_required() and prefix:
            shown = "" if default is PydanticUndefined else f"{format_default(default)}; "
            text = f"{shown}required when `{prefix.removesuffix('.')}` is set"
            yield Row(key, field_type(field), text, description)
        elif field.is_required():
            yield Row(key, field_type(field), "**required**", description)
        else:
            yield Row(key, field_type(field), format_default(default), description)


def _cell(text: str) -> str:
    """Table cells cannot hold a bare `|` or a line break."""
    return " ".join(text.split()).replace(" | ", " \\| ")


def table(table_rows: list[Row]) -> list[str]:
    """A Markdown table of keys."""
    lines = ["| Key | Type | Default | Description |", "| --- | --- | --- | --- |"]
    lines += [
        f"| `{row.key}` | {row.type} | {_cell(row.default)} | {_cell(row.description)} |"
        for row in table_rows
    ]
    return lines


def reference(model: type[BaseModel] = StackConfig) -> str:
    """The whole generated block: one table for top-level keys, one per component section."""
    all_rows = list(rows(model))
    sections = [
        field.alias or name for name, field in model.model_fields.items() if _nested_model(field.annotation)
    ]
    lines = [
        "<!-- Generated by `python -m tools.config_reference` from components/config/;"
        " edit the Field descriptions there, not this block. -->",
        "",
        "#### Top-level keys",
        "",
        *table([row for row in all_rows if row.key.split(".")[0] not in sections]),
    ]
    for key in sections:
        lines += ["", f"#### `{key}`", ""]
        lines += table([row for row in all_rows if row.key.startswith(f"{key}.")])
    return "\n".join(lines) + "\n"


def replace_block(readme: str, block: str) -> str:
    """The README text with the text between the markers replaced by `block`."""
    start, end = readme.find(START), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README.md has no `{START}` ... `{END}` block")
    return f"{readme[: start + len(START)]}\n{block}{readme[end:]}"


def readme_block(readme: str) -> str:
    """The text currently between the markers."""
    start, end = readme.find(START), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README.md has no `{START}` ... `{END}` block")
    return readme[start + len(START) : end].removeprefix("\n")


def main(argv: list[str] | None = None) -> int:
    """Rewrite the README block, or with `--check` report in one line that it is stale."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.config_reference", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md's block is stale")
    parser.add_argument("--readme", type=Path, default=README, help="the README to update or check")
    args = parser.parse_args(argv)
    text = args.readme.read_text()
    try:
        current = readme_block(text)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    generated = reference()
    if args.check:
        if current != generated:
            print(f"{args.readme.name}: the config reference is stale; run `make docs`", file=sys.stderr)
            return 1
        return 0
    if current != generated:
        args.readme.write_text(replace_block(text, generated))
        print(f"updated the config reference in {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
