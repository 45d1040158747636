"""How keys are spelt: camelCase, no dotted keys, no empty key, no value ending in a line break."""

from __future__ import annotations

from typing import Any

import pytest

from components.configuration import ConfigError, StackConfig, load_config
from tests.conftest import problems
from tools.render import PROJECT_DIR


@pytest.mark.parametrize(
    ("sections", "key"),
    [
        ({"namespace": "elk-qa\n"}, "namespace"),
        ({"version": "9.4.3\n"}, "version"),
        ({"elasticsearch": {"heap": "1g\n"}}, "elasticsearch.heap"),
        ({"elasticsearch": {"storage": {"size": "20Gi\n"}}}, "elasticsearch.storage.size"),
        ({"elasticsearch": {"retention": {"maxAge": "14d\n"}}}, "elasticsearch.retention.maxAge"),
        ({"logstash": {"queue": {"maxBytes": "1gb\n"}}}, "logstash.queue.maxBytes"),
        ({"kibana": {"ingress": {"host": "kibana.example.com\n"}}}, "kibana.ingress.host"),
    ],
)
def test_a_trailing_newline_is_refused(sections: dict[str, Any], key: str) -> None:
    """`$` matches before a final newline; the API server and the JVM refuse such values."""
    found = problems(**sections)
    assert any(line.startswith(f"{key}:") for line in found), found


def test_an_empty_key_after_the_prefix_is_named() -> None:
    """`"elk-stack:": x` once gave `- : unknown key`."""
    with pytest.raises(ConfigError) as error:
        load_config({"namespace": "elk", "": "x"}, PROJECT_DIR)
    assert error.value.problems == [
        "elk-stack:: the key has no name after the prefix; write e.g. `elk-stack:namespace`"
    ]


@pytest.mark.parametrize(
    ("key", "value", "command"),
    [
        ("elasticsearch.heap", "2g", "pulumi config set --path elasticsearch.heap 2g"),
        (
            "kibana.ingress.host",
            "kibana example.com",
            "pulumi config set --path kibana.ingress.host 'kibana example.com'",
        ),
        (
            "elasticsearch.nodeSets[0]",
            '{"name": "a"}',
            "pulumi config set --path 'elasticsearch.nodeSets[0]' <value>",
        ),
    ],
)
def test_a_dotted_key_gets_a_hint_about_nesting_or_path(key: str, value: str, command: str) -> None:
    """`pulumi config set elasticsearch.heap 2g` (no --path) stores one flat key with a dot."""
    with pytest.raises(ConfigError) as error:
        load_config({"namespace": "elk", key: value}, PROJECT_DIR)
    assert error.value.problems == [
        f"{key}: a dotted key is one flat key to Pulumi, not a path; nest it in the stack file "
        f"or set it with `{command}`"
    ]


def test_a_dotted_key_is_reported_with_the_other_problems() -> None:
    with pytest.raises(ConfigError) as error:
        load_config({"namespace": "Bad", "elasticsearch.heap": "2g"}, PROJECT_DIR)
    dotted, namespace = error.value.problems
    assert dotted.startswith("elasticsearch.heap: a dotted key is one flat key to Pulumi")
    assert namespace.startswith("namespace: 'Bad' is not a DNS-1123 label")


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        (
            {"createNamespace": True, "create_namespace": True},
            "create_namespace: unknown key; did you mean 'createNamespace'?",
        ),
        (
            {
                "elasticsearch": {
                    "node_sets": [{"name": "data", "roles": ["master", "data"]}],
                    "storage": {"size": "50Gi"},
                }
            },
            "elasticsearch.node_sets: unknown key; did you mean 'nodeSets'?",
        ),
        (
            {
                "elasticsearch": {
                    "nodeSets": [{"name": "a", "roles": ["master", "data"], "anti_affinity": "hard"}]
                }
            },
            "elasticsearch.nodeSets[0].anti_affinity: unknown key; did you mean 'antiAffinity'?",
        ),
        (
            {"networkPolicy": {"logstash_from": []}},
            "networkPolicy.logstash_from: unknown key; did you mean 'logstashFrom'?",
        ),
    ],
)
def test_snake_case_keys_are_unknown_with_their_camel_case_form(
    sections: dict[str, Any], expected: str
) -> None:
    """`node_sets` once bypassed the rule against mixing node sets with inline keys, dropping storage."""
    assert problems(**sections) == [expected]


def test_models_built_in_code_by_python_name_still_work() -> None:
    """Only stack-file input is held to camelCase; components build models by field name."""
    assert StackConfig(namespace="elk", create_namespace=True).create_namespace is True


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        (
            {
                "elasticsearch": {
                    "nodeSets": [{"name": "a", "roles": ["master", "data"], "storge": {"size": "1Gi"}}]
                }
            },
            "elasticsearch.nodeSets[0].storge: unknown key; did you mean 'storage'?",
        ),
        (
            {"networkPolicy": {"kibanaFrom": [{"podLabel": {"app": "x"}}]}},
            "networkPolicy.kibanaFrom[0].podLabel: unknown key; did you mean 'podLabels'?",
        ),
        (
            {
                "elasticsearch": {
                    "nodeSets": [{"name": "a", "roles": ["master", "data"], "storage": {"sise": "1Gi"}}]
                }
            },
            "elasticsearch.nodeSets[0].storage.sise: unknown key; did you mean 'size'?",
        ),
        (
            {"networkPolicy": {"kibanaFrom": [{"zzz": {}}]}},
            "networkPolicy.kibanaFrom[0].zzz: unknown key; valid keys: namespaceLabels, podLabels",
        ),
    ],
)
def test_unknown_keys_in_lists_of_models_get_a_suggestion(sections: dict[str, Any], expected: str) -> None:
    assert expected in problems(**sections)
