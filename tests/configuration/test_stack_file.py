"""Reading stack files as Pulumi does (YAML 1.2, no duplicated keys), and refusing what it cannot pass on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.render import StackFileError, stack_config


def read(tmp_path: Path, text: str | bytes) -> dict[str, str]:
    """`stack_config` of a stack file `Pulumi.x.yaml` holding `text`."""
    path = tmp_path / "Pulumi.x.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return stack_config("x", tmp_path)


def refusal(tmp_path: Path, text: str | bytes) -> str:
    with pytest.raises(StackFileError) as error:
        read(tmp_path, text)
    return str(error.value)


def test_yaml_1_2_keeps_no_and_sexagesimals_as_text(tmp_path: Path) -> None:
    """YAML 1.1 (PyYAML) made `no` false and `1:30` the number 90; Pulumi reads YAML 1.2."""
    config = read(
        tmp_path,
        "config:\n  elk-stack:namespace: no\n  elk-stack:kibana:\n    ingress: {host: 1:30, enabled: no}\n",
    )
    assert config["elk-stack:namespace"] == "no"
    assert json.loads(config["elk-stack:kibana"]) == {"ingress": {"host": "1:30", "enabled": "no"}}


def test_top_level_values_are_the_text_written(tmp_path: Path) -> None:
    """Pulumi passes a scalar under `config:` as written: `8.10` is not the float 8.1."""
    config = read(
        tmp_path,
        "config:\n  elk-stack:version: 8.10\n  elk-stack:createNamespace: True\n  elk-stack:storageClass:\n",
    )
    assert config == {
        "elk-stack:version": "8.10",
        "elk-stack:createNamespace": "True",
        "elk-stack:storageClass": "",
    }


def test_nested_values_keep_their_yaml_types(tmp_path: Path) -> None:
    config = read(
        tmp_path, "config:\n  elk-stack:kibana: {replicas: 0x2, a: true, b: null, c: 1.5, d: '3'}\n"
    )
    assert json.loads(config["elk-stack:kibana"]) == {"replicas": 2, "a": True, "b": None, "c": 1.5, "d": "3"}


def test_a_duplicated_key_names_the_key_and_both_lines(tmp_path: Path) -> None:
    message = refusal(tmp_path, "config:\n  elk-stack:namespace: elk-a\n  elk-stack:namespace: elk-b\n")
    assert message == (
        "Pulumi.x.yaml, line 3: elk-stack:namespace is given twice (first on line 2); "
        "Pulumi refuses a duplicated key: keep one"
    )


def test_a_duplicated_nested_key_names_its_path(tmp_path: Path) -> None:
    message = refusal(
        tmp_path, "config:\n  elk-stack:elasticsearch:\n    storage:\n      size: 1Gi\n      size: 2Gi\n"
    )
    assert message.startswith("Pulumi.x.yaml, line 5: elk-stack:elasticsearch.storage.size is given twice")


def test_a_date_is_passed_on_as_the_text_written(tmp_path: Path) -> None:
    """Pulumi keeps a date-like value a string; PyYAML made it a date that JSON cannot hold."""
    config = read(tmp_path, "config:\n  elk-stack:kibana:\n    ingress: {host: 2024-01-01}\n")
    assert json.loads(config["elk-stack:kibana"]) == {"ingress": {"host": "2024-01-01"}}


def test_merge_keys_fill_in_under_the_explicit_ones(tmp_path: Path) -> None:
    config = read(
        tmp_path,
        "config:\n  elk-stack:kibana:\n    resources: &r {limits: {cpu: '1'}, requests: {cpu: 100m}}\n"
        "  elk-stack:logstash:\n    resources:\n      <<: *r\n      limits: {cpu: '2'}\n",
    )
    assert json.loads(config["elk-stack:logstash"]) == {
        "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "2"}}
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            b"# Kibana f\xfcr QA\nconfig:\n  elk-stack:namespace: elk\n",
            "Pulumi.x.yaml, line 1: the file is not UTF-8 (byte 0xfc); save it as UTF-8",
            id="latin-1",
        ),
        pytest.param(
            "config:\n  elk-stack:namespace: elk\n  8080: x\n",
            "Pulumi.x.yaml, line 3: the config key '8080' is not text; keys look like `elk-stack:namespace`",
            id="number-key",
        ),
        pytest.param(
            "config:\n  ~: x\n",
            "Pulumi.x.yaml, line 2: the config key '~' is not text; keys look like `elk-stack:namespace`",
            id="null-key",
        ),
        pytest.param(
            "- config\n- elk\n",
            "Pulumi.x.yaml: the top level is a list; a stack file maps `config:` to keys",
            id="top-level-list",
        ),
        pytest.param(
            "just text\n",
            "Pulumi.x.yaml: the top level is a single value; a stack file maps `config:` to keys",
            id="top-level-scalar",
        ),
        pytest.param(
            "config:\n  elk-stack:kibana:\n    ingress: {host: !!binary aGVsbG8=}\n",
            "Pulumi.x.yaml, line 3: elk-stack:kibana.ingress.host: a !!binary value cannot be passed "
            "to the program; write it as plain text",
            id="binary",
        ),
        pytest.param(
            "config:\n  elk-stack:kibana: &k\n    ingress: *k\n",
            "Pulumi.x.yaml, line 2: elk-stack:kibana.ingress: the value contains itself (a recursive alias)",
            id="recursive-anchor",
        ),
        pytest.param(
            "config:\n  elk-stack:kibana: &k\n    <<: *k\n",
            "Pulumi.x.yaml, line 2: elk-stack:kibana: the value contains itself (a recursive alias)",
            id="recursive-merge",
        ),
        pytest.param(
            "config:\n  elk-stack:kibana: " + "[" * 10000 + "\n",
            "Pulumi.x.yaml is nested too deeply to read",
            id="deep-flow-nesting",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            "config:\n  elk-stack:kibana: " + "[" * 60 + "]" * 60 + "\n",
            "Pulumi.x.yaml, line 2: elk-stack:kibana" + "[0]" * 51 + ": nested more than 50 levels deep",
            id="deep-nesting",
        ),
        pytest.param(
            "config:\n  elk-stack:kibana: {replicas: .nan}\n",
            "Pulumi.x.yaml, line 2: elk-stack:kibana.replicas: .nan is not a number a stack file can hold",
            id="not-a-number",
        ),
        pytest.param(
            "config:\n  elk-stack:kibana: {replicas: !!int three}\n",
            "Pulumi.x.yaml, line 2: elk-stack:kibana.replicas: !!int three is not a number",
            id="tagged-word",
        ),
        pytest.param(
            'config:\n  elk-stack:kibana: {replicas: !!int "\u00b2"}\n',
            "Pulumi.x.yaml, line 2: elk-stack:kibana.replicas: !!int \u00b2 is not a number",
            id="tagged-superscript",
        ),
        pytest.param(
            "config:\n  elk-stack:kibana: {replicas: " + "9" * 5000 + "}\n",
            "Pulumi.x.yaml, line 2: elk-stack:kibana.replicas: the number 999999999999... is too long",
            id="huge-number",
        ),
    ],
)
def test_what_pulumi_cannot_pass_on_is_one_clear_message(
    tmp_path: Path, text: str | bytes, expected: str
) -> None:
    assert refusal(tmp_path, text) == expected


def test_aliases_that_expand_without_bound_are_refused(tmp_path: Path) -> None:
    """Nine levels of nine aliases are 387 million strings once expanded: refuse, do not hang."""
    levels = ['    l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    levels += [f"    l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
    text = "config:\n  elk-stack:kibana:\n" + "\n".join(levels) + "\n"
    assert refusal(tmp_path, text) == "Pulumi.x.yaml: more than 100000 values once aliases are expanded"


def test_a_multi_document_file_is_not_valid(tmp_path: Path) -> None:
    assert refusal(tmp_path, "config: {}\n---\nconfig: {}\n").startswith("Pulumi.x.yaml is not valid YAML")


def test_an_empty_file_or_config_is_no_config(tmp_path: Path) -> None:
    assert read(tmp_path, "") == {}
    assert read(tmp_path, "config:\n") == {}
    assert read(tmp_path, "encryptionsalt: v1:abc\n") == {}
