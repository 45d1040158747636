"""Turn Pulumi's flat config into a validated StackConfig, or one ConfigError naming every key."""

from __future__ import annotations

import difflib
import json
import shlex
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

from components.configuration.base import PROJECT, ConfigError
from components.configuration.stack import StackConfig


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model inside an annotation such as `NodeSet`, `list[NodeSet] | None` or `Capacity | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next(filter(None, map(_nested_model, typing.get_args(annotation))), None)


def _field_at(model: type[BaseModel] | None, segment: str) -> tuple[str, type[BaseModel] | None]:
    """A key's camelCase alias in `model`, and the model nested under it (if any)."""
    if model is None:
        return segment, None
    found = next(((n, f) for n, f in model.model_fields.items() if segment in (n, f.alias)), None)
    if found is None:
        return segment, None
    name, field = found
    return field.alias or name, _nested_model(field.annotation)


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


def _unknown_key_hint(key: str, known: list[str]) -> str:
    """`; did you mean 'nodeSets'?` for `node_sets` or `nodeSet`, else the keys valid there."""
    if not known:
        return ""
    close = [to_camel(key)] if to_camel(key) in known else difflib.get_close_matches(key, known, n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(known)}"


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
        hint = _unknown_key_hint(str(loc[-1]), known)
        # The unknown key as the user typed it, though it may be a field's Python name.
        path = f"{_key_path(loc[:-1])}.{loc[-1]}" if loc[:-1] else str(loc[-1])
        return [f"{path}: unknown key{hint}"]
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "is required"
    elif error["type"] in PLAIN_WORDS:
        message = PLAIN_WORDS[error["type"]].format(given=_given(error.get("input")), **error.get("ctx", {}))
    if isinstance(error.get("input"), str) and "${" in error["input"]:
        message += "; nothing expands `${...}` in a stack file: write the value itself"
    return [f"{_key_path(loc)}: {message}"]


# Pydantic's wording for a value of the wrong kind ("Input should be a valid dictionary or
# instance of Storage") speaks of Python; these speak of the stack file: what was given, and
# what the key takes.
NOT_KEYS = "{given} is not a group of keys; write it as `key: value` lines or `{{key: value}}`"
PLAIN_WORDS = {
    "model_type": NOT_KEYS,
    "model_attributes_type": NOT_KEYS,
    "dict_type": NOT_KEYS,
    "list_type": "{given} is not a list; write it as `[a, b]` or `- a` lines",
    "int_parsing": "{given} is not a whole number",
    "int_type": "{given} is not a whole number",
    "int_from_float": "{given} is not a whole number",
    "bool_parsing": "{given} is not true or false",
    "bool_type": "{given} is not true or false",
    "string_type": "{given} is not text; quote it",
    "literal_error": "{given} is not one of {expected}",
    "less_than_equal": "{given} is more than {le}, the most it can be",
    "greater_than_equal": "{given} is less than {ge}, the least it can be",
}


def _given(value: Any) -> str:
    """What the user wrote, as the stack file shows it (JSON), shortened."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else f"{text[:37]}..."


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


def _key_problem(key: str, text: str) -> str | None:
    """What is wrong with a key's name itself, before its value is looked at."""
    if not key:
        return f"{PROJECT}:: the key has no name after the prefix; write e.g. `{PROJECT}:namespace`"
    if "." in key or "[" in key:
        value = "<value>" if text[:1] in "{[" or not text else shlex.quote(text)
        return (
            f"{key}: a dotted key is one flat key to Pulumi, not a path; nest it in the stack "
            f"file or set it with `pulumi config set --path {shlex.quote(key)} {value}`"
        )
    return None


def mistyped_prefix_warnings(keys: Iterable[str]) -> list[str]:
    """Warnings for keys whose namespace looks like a misspelt `elk-stack`, which nothing reads.

    Pulumi passes keys of every namespace to the program; those of real providers
    (`kubernetes:*`) are not close to ours and stay silent.
    """
    warnings = []
    for key in keys:
        namespace, colon, name = key.partition(":")
        if (
            colon
            and namespace != PROJECT
            and difflib.get_close_matches(namespace.lower(), [PROJECT], cutoff=0.8)
        ):
            warnings.append(
                f"{key} is ignored: {namespace!r} is not this project's namespace; "
                f"did you mean {PROJECT}:{name}?"
            )
    return warnings


def load_config(raw: dict[str, str], project_dir: Path) -> StackConfig:
    """Validate the project's config keys (without the `elk-stack:` prefix); raise ConfigError.

    Keys are the documented camelCase ones only: a snake_case key would be a second
    spelling that rules written for the camelCase one (e.g. nodeSets) do not see.
    """
    key_problems = {key: _key_problem(key, text) for key, text in raw.items()}
    values = parse_config_values({key: text for key, text in raw.items() if key_problems[key] is None})
    problems = [problem for problem in key_problems.values() if problem is not None]
    try:
        config = StackConfig.model_validate(
            values, by_alias=True, by_name=False, context={"project_dir": project_dir}
        )
    except ValidationError as error:
        problems += [line for item in error.errors() for line in _describe(item)]
        raise ConfigError(sorted(problems)) from None
    if problems:
        raise ConfigError(sorted(problems))
    return config
