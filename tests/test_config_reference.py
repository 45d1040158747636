from __future__ import annotations

from pathlib import Path

import pytest

from components.config import ElasticsearchConfig, StackConfig
from tools.config_reference import END, README, START, main, readme_block, reference, replace_block, rows


def test_readme_block_is_current() -> None:
    assert readme_block(README.read_text()) == reference(), "README.md is stale: run `make docs`"


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
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{START}\nold\n{END}\n")
    assert main(["--check", "--readme", str(readme)]) == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_rewrite_makes_the_check_pass(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{START}\nold\n{END}\nafter\n")
    assert main(["--readme", str(readme)]) == 0
    assert main(["--check", "--readme", str(readme)]) == 0
    assert readme.read_text().endswith(f"{END}\nafter\n")


def test_replace_block_needs_the_markers() -> None:
    with pytest.raises(ValueError, match="config-reference:start"):
        replace_block("no markers here", "block")
