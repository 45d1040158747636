"""Turn Pulumi's flat config into a validated StackConfig, or one ConfigError naming every key."""

from __future__ import annotations

import difflib
import json
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from components.config.base import ConfigError
from components.config.stack import StackConfig


def _field_at(model: type[BaseModel] | None, segment: str) -> tuple[str, type[BaseModel] | None]:
    """A key's camelCase alias in `model`, and the model nested under it (if any)."""
    if model is None:
        return segment, None
    found = next(((n, f) for n, f in model.model_fields.items() if segment in (n, f.alias)), None)
    if found is None:
        return segment, None
    name, field = found
    candidates = [field.annotation, *typing.get_args(field.annotation)]
    nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
    return field.alias or name, nested[0] if nested else None


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """Follow an error location through the models, to suggest the keys valid there."""
    model: type[BaseModel] | None = StackConfig
    for segment in loc:
        if not isinstance(segment, int):
            _, model = _field_at(model, segment)
    return model


def _key_path(loc: tuple[str | int, ...]) -> str:
    """Render a location the way `pulumi config set --path` takes it: `a.b[0].c`.

    Segments are turned into their camelCase keys: a default that fails validation is
    located by its Python name.
    """
    path = ""
    model: type[BaseModel] | None = StackConfig
    for segment in loc:
        if isinstance(segment, int):
            path += f"[{segment}]"
            continue
        key, model = _field_at(model, segment)
        path += f".{key}" if path else key
    return path


def _describe(error: Any) -> list[str]:
    loc = tuple(error["loc"])
    if error["type"] == "elk_rules":
        return [
            f"{_key_path(loc + tuple(rel.split('.')))}: {message}"
            for rel, message in error["ctx"]["problems"]
        ]
    if error["type"] == "extra_forbidden":
        parent = _model_at(loc[:-1])
        known = [f.alias or n for n, f in parent.model_fields.items()] if parent else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(known)}"
        return [f"{_key_path(loc)}: unknown key{hint if known else ''}"]
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "is required"
    return [f"{_key_path(loc)}: {message}"]


def parse_config_values(raw: dict[str, str]) -> dict[str, Any]:
    """Decode Pulumi's flat string config: objects and lists arrive JSON-encoded."""
    values: dict[str, Any] = {}
    for key, text in raw.items():
        if text[:1] in "{[":
            try:
                values[key] = json.loads(text)
                continue
            except json.JSONDecodeError:
                pass
        values[key] = text
    return values


def load_config(raw: dict[str, str], project_dir: Path) -> StackConfig:
    """Validate the project's config keys (without the `elk-stack:` prefix); raise ConfigError."""
    try:
        return StackConfig.model_validate(parse_config_values(raw), context={"project_dir": project_dir})
    except ValidationError as error:
        problems = [line for item in error.errors() for line in _describe(item)]
        raise ConfigError(sorted(problems)) from None
