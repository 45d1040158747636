"""Stack files generated from the schema itself: never a traceback, and every refusal names a key.

Hypothesis walks `StackConfig`'s JSON schema (pydantic's, by alias: the keys a stack file
spells). Each key is left out or given a value of its schema's type, within and at its
bounds, and now and then something else: another type, a number far past any bound, a
control character, `${...}`, an unknown key. Each file goes through `load_config`, as the
program's first step; one that passes is rendered whole. Two things must hold:

- nothing but a `ConfigError` (or, from the program, a `pulumi.RunError` carrying one)
  comes out;
- each problem starts with a key path that is a documented key (docs/reference.md, with
  `[i]` for a list item) or one the file itself holds.

`derandomize` makes the examples the same on every run, so `make test` is repeatable; the
`@example`s are inputs that once broke the render, kept as regression cases beside
tests/program/fuzz_cases.py's corpus of broken files.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pulumi
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from components.configuration import ConfigError, load_config
from components.configuration.stack import StackConfig
from tools.config_reference import rows
from tools.render import PROJECT_DIR, run_program

SCHEMA = StackConfig.model_json_schema(by_alias=True)
DEFINITIONS: dict[str, Any] = SCHEMA.get("$defs", {})
DOCUMENTED = {row.key for row in rows(StackConfig)}
# Plausible strings of every kind the schema's strings take (names, quantities, versions,
# durations, hosts, cron): a key given one of another kind is refused, which is the point.
STRINGS = [
    "elk-qa",
    "ssd",
    "500m",
    "2",
    "2Gi",
    "512m",
    "10Gi",
    "9.4.3",
    "8.19.0",
    "14d",
    "30m",
    "kibana.example.com",
    "0 30 1 * * ?",
    "logs-*",
    "10.0.0.0/8",
]
JUNK: SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=6),
    st.sampled_from(["\x00", "a\nb", "${HOSTNAME}", "\u202e", "٣", "09.4.3", "%", "-1"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["x", "size", "unknownKey"]), st.integers(), max_size=2),
)


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """A `$ref` replaced by its definition."""
    while "$ref" in schema:
        schema = DEFINITIONS[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def value_for(schema: dict[str, Any]) -> SearchStrategy[Any]:
    """Mostly a value of the schema's kind; one time in eight, anything else."""
    return st.integers(0, 7).flatmap(lambda roll: JUNK if roll == 0 else of_kind(resolve(schema)))


def of_kind(schema: dict[str, Any]) -> SearchStrategy[Any]:
    """A value of what the schema describes: its enum, type and bounds."""
    if "anyOf" in schema:
        return st.one_of([of_kind(resolve(option)) for option in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    kind = schema.get("type")
    if kind == "object":
        return an_object(schema)
    if kind == "array":
        return st.lists(value_for(schema.get("items", {})), max_size=3)
    if kind == "integer":
        return st.integers(schema.get("minimum", -5), schema.get("maximum", 2**31 + 1))
    if kind == "number":
        return st.floats(schema.get("minimum", -5.0), schema.get("maximum", 1e12))
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    default = schema.get("default")
    strings = st.sampled_from(STRINGS) | st.text(max_size=8)
    return st.just(default) | strings if isinstance(default, str) else strings


def an_object(schema: dict[str, Any]) -> SearchStrategy[dict[str, Any]]:
    """Its required keys, any of its others, and now and then a key it does not have."""
    properties: dict[str, Any] = schema.get("properties", {})
    if not properties:
        values = value_for(schema.get("additionalProperties", {}))
        return st.dictionaries(st.sampled_from(["main", "app", "team-a"]), values, max_size=2)
    required = set(schema.get("required", []))
    return st.fixed_dictionaries(
        {key: value_for(properties[key]) for key in required},
        optional={
            **{key: value_for(value) for key, value in properties.items() if key not in required},
            "unknownKey": JUNK,
        },
    )


def stack_files() -> SearchStrategy[dict[str, Any]]:
    """The `elk-stack:` section of a stack file, with a namespace (required) most of the time."""
    return an_object(SCHEMA).map(lambda config: {"namespace": "elk-qa", **config})


def flat(config: dict[str, Any]) -> dict[str, str]:
    """As the engine hands config to the program: strings, objects and lists JSON-encoded."""
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in config.items()}


def paths(value: Any, prefix: str = "") -> set[str]:
    """Every key path a document holds, lists as `[i]`: keys the user wrote may be named."""
    found = {prefix} if prefix else set()
    if isinstance(value, dict):
        for key, item in value.items():
            found |= paths(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        for item in value:
            found |= paths(item, f"{prefix}[i]")
    return found


def named_key(problem: str) -> str:
    """The key path a problem starts with, list indexes as `[i]`."""
    key = problem.split(": ", 1)[0]
    return re.sub(r"\[\d+\]", "[i]", key)


def assert_names_keys(error: ConfigError, config: dict[str, Any]) -> None:
    known = DOCUMENTED | paths(config)
    for problem in error.problems:
        assert named_key(problem) in known, f"{problem!r} names no key of the schema or the file"


@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(stack_files())
@example({"namespace": "elk-qa", "elasticsearch": {"retention": {"rolloverSize": "9223372036854775808b"}}})
@example({"namespace": "elk-qa", "version": "09.4.3"})
@example({"namespace": "elk-qa", "elasticsearch": {"tls": {"caRotation": "trust"}}})
@example({"namespace": "elk-qa", "elasticsearch": {"replicas": True}})
@example({"namespace": "elk-qa", "logstash": {"queue": {"type": "persisted", "maxBytes": "1mb"}}})
def test_a_generated_stack_file_is_rendered_or_refused_by_its_keys(config: dict[str, Any]) -> None:
    raw = flat(config)
    try:
        load_config(raw, PROJECT_DIR)
    except ConfigError as error:
        event(
            "refused, "
            + ("3 or more problems" if len(error.problems) > 2 else f"{len(error.problems)} problems")
        )
        assert_names_keys(error, config)
        return
    event("accepted and rendered")
    try:
        run_program({f"elk-stack:{key}": value for key, value in raw.items()}, stack="generated")
    except pulumi.RunError as error:
        assert str(error).startswith("invalid elk-stack config"), str(error)
