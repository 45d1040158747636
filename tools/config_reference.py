"""Generate the config reference in docs/reference.md from the pydantic models in `components/configuration/`.

The models are the single source of truth for keys, types, defaults and descriptions, so
the reference is generated from them and a test fails when the copy in docs/reference.md is stale.
Keys are written as full paths, the way `pulumi config set --path` takes them.

    python -m tools.config_reference [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from components.configuration import StackConfig, base

PROJECT_DIR = Path(__file__).resolve().parent.parent
REFERENCE_PAGE = PROJECT_DIR / "docs" / "reference.md"
START = "<!-- config-reference:start -->"
END = "<!-- config-reference:end -->"
ITEM = "[i]"  # any item of a list, in a key: `networkPolicy.kibanaFrom[i].podLabels`
# Names of the value types in components/configuration/base.py, looked up by the alias's name.
NAMED_TYPES: dict[str, str] = {
    "Quantity": "quantity",
    "ByteQuantity": "quantity",
    "JvmSize": "JVM size",
    "LogstashBytes": "Logstash bytes",
    "DnsLabel": "DNS label",
    "DnsSubdomain": "DNS subdomain",
    "ImageRepository": "image repository",
    "LabelValue": "label value",
}
PLAIN_TYPES: dict[Any, str] = {str: "string", int: "integer", bool: "boolean"}


@dataclass(frozen=True)
class Row:
    """One key of the reference: where it is, what it takes, and what it means."""

    key: str
    type: str
    default: str
    description: str


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models among a type and its `| None` options: `Storage`, `Ingress | None`."""
    return [
        candidate
        for candidate in (annotation, *typing.get_args(annotation))
        if isinstance(candidate, type) and issubclass(candidate, BaseModel)
    ]


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds (`Storage`, `Ingress | None`), or None for anything else."""
    if typing.get_origin(annotation) is list:
        return None
    models = _models_in(annotation)
    return models[0] if models else None


def _item_model(annotation: Any) -> type[BaseModel] | None:
    """The model of each item of a list field (`list[NetworkPeer]`, `list[NodeSet] | None`)."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(candidate) is list:
            return _nested_model(typing.get_args(candidate)[0])
    return None


def _alias_name(annotation: Any) -> str | None:
    """The name a value type has in `components.configuration.base` (`Quantity`), if it is one."""
    if typing.get_origin(annotation) is not Annotated:
        return None
    return next((name for name, value in vars(base).items() if value == annotation), None)


def type_name(annotation: Any) -> str:
    """A short human name for a field's type, e.g. `quantity` or `map of string to string`."""
    alias = _alias_name(annotation)
    if alias in NAMED_TYPES:
        return NAMED_TYPES[alias]
    if annotation in PLAIN_TYPES:
        return PLAIN_TYPES[annotation]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{value}`" for value in args)
    if origin is list:
        item = type_name(args[0])
        return f"list of ({item})" if " \\| " in item else f"list of {item}"
    if origin is dict:
        return f"map of {type_name(args[0])} to {type_name(args[1])}"
    if origin is Annotated:
        return type_name(args[0])
    options = [arg for arg in args if arg is not type(None)]
    if len(options) == 1:
        return type_name(options[0])
    if _nested_model(annotation):
        return "object"
    if len(options) > 1:
        return " or ".join(type_name(option) for option in options)
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


def _as_config(value: Any) -> Any:
    """A default as a stack file would spell it: models by their camelCase keys, unset keys left out."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, list):
        return [_as_config(item) for item in value]
    return value


def format_default(value: Any) -> str:
    """A default as the reference shows it: a literal value, or a dash for "not set"."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list | dict | BaseModel):
        return f"`{json.dumps(_as_config(value))}`"
    return f"`{value}`"


def _required(prefix: str, default: Any) -> str:
    """The Default cell of a key that must be given whenever its enclosing object is."""
    shown = "" if default is PydanticUndefined else f"{format_default(default)}; "
    enclosing = prefix.removesuffix(".")
    if enclosing.endswith(ITEM):
        return f"{shown}required in each item of `{enclosing.removesuffix(ITEM)}`"
    return f"{shown}required when `{enclosing}` is set"


def rows(model: type[BaseModel], prefix: str = "", defaults: BaseModel | None = None) -> Iterator[Row]:
    """Every key of `model`, depth-first, with defaults taken from an enclosing default object.

    `defaults` is the value an enclosing object defaults to (e.g. `Storage(size="10Gi")`),
    which is where a key like `elasticsearch.storage.size` gets its default from. The keys
    of a list's items follow the list's own row, as `<list>[i].<key>`.
    """
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        description = field.description or ""
        nested = _nested_model(field.annotation)
        items = _item_model(field.annotation)
        default = getattr(defaults, name) if defaults is not None else _own_default(field)
        if nested is not None:
            yield Row(key, "object", "—" if default is None else "", description)
            yield from rows(nested, f"{key}.", default if isinstance(default, BaseModel) else None)
        elif field.is_required() and prefix:
            yield Row(key, field_type(field), _required(prefix, default), description)
        elif field.is_required():
            yield Row(key, field_type(field), "**required**", description)
        else:
            yield Row(key, field_type(field), format_default(default), description)
        if items is not None:
            yield from rows(items, f"{key}{ITEM}.")


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
        "<!-- Generated by `python -m tools.config_reference` from components/configuration/;"
        " edit the Field descriptions there, not this block. -->",
        "",
        f"`{ITEM}` in a key stands for any item of a list: `networkPolicy.kibanaFrom{ITEM}.podLabels` is"
        " `podLabels` in each entry of `kibanaFrom`, and `--path networkPolicy.kibanaFrom[0].podLabels`"
        " sets it in the first.",
        "",
        "#### Top-level keys",
        "",
        *table([row for row in all_rows if row.key.split(".")[0] not in sections]),
    ]
    for key in sections:
        lines += ["", f"#### `{key}`", ""]
        lines += table([row for row in all_rows if row.key.startswith(f"{key}.")])
    return "\n".join(lines) + "\n"


def replace_block(page: str, block: str) -> str:
    """The page's text with the text between the markers replaced by `block`."""
    start, end = page.find(START), page.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the page has no `{START}` ... `{END}` block")
    return f"{page[: start + len(START)]}\n{block}{page[end:]}"


def page_block(page: str) -> str:
    """The text currently between the markers."""
    start, end = page.find(START), page.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the page has no `{START}` ... `{END}` block")
    return page[start + len(START) : end].removeprefix("\n")


def main(argv: list[str] | None = None) -> int:
    """Rewrite the page's block, or with `--check` report in one line that it is stale."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.config_reference", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the page's block is stale")
    parser.add_argument(
        "--page", type=Path, default=REFERENCE_PAGE, help="the page to update or check (docs/reference.md)"
    )
    args = parser.parse_args(argv)
    page: Path = args.page
    shown = page.relative_to(PROJECT_DIR) if page.is_relative_to(PROJECT_DIR) else page
    text = page.read_text()
    try:
        current = page_block(text)
    except ValueError as error:
        print(f"error: {shown}: {error}", file=sys.stderr)
        return 1
    generated = reference()
    if args.check:
        if current != generated:
            print(f"{shown}: the config reference is stale; run `make docs`", file=sys.stderr)
            return 1
        return 0
    if current != generated:
        page.write_text(replace_block(text, generated))
        print(f"updated the config reference in {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
