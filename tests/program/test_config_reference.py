from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from components.configuration import ElasticsearchConfig, StackConfig, parse_config_values
from components.configuration import base as config_base
from tools.config_reference import (
    END,
    NAMED_TYPES,
    PROJECT_DIR,
    REFERENCE_PAGE,
    START,
    Row,
    main,
    page_block,
    reference,
    replace_block,
    rows,
)


def test_the_reference_page_is_current() -> None:
    current = page_block(REFERENCE_PAGE.read_text())
    assert current == reference(), "docs/reference.md is stale: run `make docs`"


def test_reference_names_heap_with_its_description() -> None:
    description = ElasticsearchConfig.model_fields["heap"].description
    assert description
    assert f"| `elasticsearch.heap` | JVM size | — | {description} |" in reference()


def test_keys_are_full_camel_case_paths() -> None:
    keys = {row.key for row in rows(StackConfig)}
    assert {
        "storageClass",
        "elasticsearch.resources.limits.memory",
        "logstash.queue.storage.size",
        "logstash.queue.maxBytes",
        "kibana.ingress.tlsSecretName",
    } <= keys


def test_every_key_has_a_description() -> None:
    assert [row.key for row in rows(StackConfig) if not row.description] == []


def test_defaults_come_from_the_enclosing_default_object() -> None:
    by_key = {row.key: row for row in rows(StackConfig)}
    assert by_key["namespace"].default == "**required**"
    assert by_key["elasticsearch.resources.limits.memory"].default == "`2Gi`"
    assert by_key["elasticsearch.storage.size"].default.startswith("`10Gi`; required when")
    assert by_key["kibana.ingress.host"].default == "required when `kibana.ingress` is set"


def test_check_fails_on_a_stale_block(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "reference.md"
    page.write_text(f"# x\n{START}\nold\n{END}\n")
    assert main(["--check", "--page", str(page)]) == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_rewrite_makes_the_check_pass(tmp_path: Path) -> None:
    page = tmp_path / "reference.md"
    page.write_text(f"# x\n{START}\nold\n{END}\nafter\n")
    assert main(["--page", str(page)]) == 0
    assert main(["--check", "--page", str(page)]) == 0
    assert page.read_text().endswith(f"{END}\nafter\n")


def test_replace_block_needs_the_markers() -> None:
    with pytest.raises(ValueError, match="config-reference:start"):
        replace_block("no markers here", "block")


TYPE_ERROR = re.compile(r"_type$|_parsing$|^literal_error$|^int_from_float$")


def sample_value(type_text: str) -> Any:
    """A valid value of a type as the reference documents it, e.g. `list of DNS label`."""
    if type_text.startswith("list of "):
        return [sample_value(type_text.removeprefix("list of ").removeprefix("(").removesuffix(")"))]
    if type_text.startswith("map of "):
        key_type, value_type = type_text.removeprefix("map of ").split(" to ")
        return {sample_value(key_type): sample_value(value_type)}
    if type_text.startswith("`"):
        return type_text.split("`")[1]  # the first of the allowed values
    samples = {
        "object": {},
        "string": "abc",
        "integer": 3,
        "boolean": True,
        "quantity": "1Gi",
        "JVM size": "1g",
        "Logstash bytes": "1gb",
        "DNS label": "abc",
        "DNS subdomain": "abc.example",
        "image repository": "registry.example.com/elastic/elasticsearch",
        "label key": "example.com/tier",
        "label value": "web",
    }
    assert type_text in samples, f"the test has no sample value for the documented type {type_text!r}"
    return samples[type_text]


def nest(key: str, value: Any) -> tuple[str, Any, str]:
    """The top-level key, its value holding `value` at `key`, and the path errors name it by.

    `[i]` in a reference key stands for any item of a list; the sample puts one item there.
    """
    top, *rest = key.split(".", 1)
    path = key.replace("[i]", "[0]")
    for segment in reversed(rest[0].split(".") if rest else []):
        name, is_item = segment.removesuffix("[i]"), segment.endswith("[i]")
        value = {name: [value] if is_item else value}
    if top.endswith("[i]"):
        top, value = top.removesuffix("[i]"), [value]
    return top, value, path


def type_errors_at(key: str, value: Any) -> list[str]:
    """Pydantic's type errors at `key` when a stack sets it to `value`.

    Validated as `load_config` does (the flat strings Pulumi passes, then the model), but
    keeping pydantic's error types: a value rule (`validityDays` at least 30) is not a
    type error, whereas `list_type`, `int_parsing` or `literal_error` are.
    """
    top, nested, path = nest(key, value)
    text = nested if isinstance(nested, str) else json.dumps(nested)
    raw = {"namespace": "elk-ref", top: text}
    try:
        StackConfig.model_validate(parse_config_values(raw), context={"project_dir": PROJECT_DIR})
    except ValidationError as error:
        parts = [part for part in re.split(r"\.|\[|\]\.?", path) if part]
        wanted = tuple(int(part) if part.isdigit() else part for part in parts)
        return [
            f"{path}: {item['type']}: {item['msg']}"
            for item in error.errors()
            if tuple(item["loc"]) == wanted and TYPE_ERROR.search(item["type"])
        ]
    return []


@pytest.mark.parametrize("row", list(rows(StackConfig)), ids=lambda row: row.key)
def test_every_key_takes_a_value_of_its_documented_type(row: Row) -> None:
    """`networkPolicy.kibanaFrom` was documented as an object; the stack refuses anything but a list."""
    assert type_errors_at(row.key, sample_value(row.type)) == []


def test_a_wrongly_documented_type_is_caught() -> None:
    """The check above can fail: an object where a list belongs is a type error at that key."""
    assert type_errors_at("networkPolicy.kibanaFrom", {}) == [
        "networkPolicy.kibanaFrom: list_type: Input should be a valid list"
    ]
    assert type_errors_at("elasticsearch.replicas", "abc") != []


def test_every_named_type_is_a_value_type_of_the_config() -> None:
    """A renamed or removed value type must not leave a stale name behind in the generator."""
    assert [name for name in NAMED_TYPES if not hasattr(config_base, name)] == []
