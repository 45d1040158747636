"""The rules of security, TLS and network policies, and the pipeline each security mode needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.configuration import ConfigError, load_config
from components.configuration.kibana import KEYS_SECRET_OF_A_STACK, STACK_OBJECTS_PREFIX
from components.specs import common
from tests.conftest import problems, valid
from tools.render import PROJECT_DIR


def test_security_is_on_by_default() -> None:
    config = valid()
    assert config.security.enabled is True
    assert config.elasticsearch.tls.http is True
    assert config.network_policy.enabled is True
    assert config.logstash.pipeline == "pipelines/spring-boot-json.conf"


def test_renewal_must_start_before_expiry() -> None:
    assert problems(elasticsearch={"tls": {"validityDays": 90, "earlyRenewalDays": 90}}) == [
        "elasticsearch.tls.earlyRenewalDays: 90 must be less than validityDays (90)"
    ]


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("", "'' is no index pattern; give names such as logs-*-*"),
        (" ", "' ' is no index pattern; give names such as logs-*-*"),
        ("/[/", "'/[/' is not a regular expression Elasticsearch can read (unterminated character set"),
    ],
)
def test_an_index_pattern_elasticsearch_cannot_use_is_refused(pattern: str, problem: str) -> None:
    [found] = problems(security={"logstashIndices": ["logs-*-*", pattern]})
    assert found.startswith(f"security.logstashIndices: {problem}")


def test_index_names_patterns_and_regexps_are_accepted() -> None:
    assert problems(security={"logstashIndices": ["logs-*-*", "/logs-(a|b)-.*/", "audit"]}) == []


def test_a_ca_rotation_rotates_to_a_ca_after_the_first() -> None:
    assert problems(elasticsearch={"tls": {"caRotation": "trust"}}) == [
        "elasticsearch.tls.caRotation: rotates to CA caGeneration, which must be 1 or more (the CA after 0)"
    ]


@pytest.mark.parametrize(
    ("tls", "key"),
    [({"caGeneration": 2}, "caGeneration"), ({"caGeneration": 2, "caRotation": "switch"}, "caRotation")],
)
def test_a_ca_rotation_and_the_users_own_pki_exclude_each_other(tls: dict[str, Any], key: str) -> None:
    assert problems(elasticsearch={"tls": {**tls, "existingSecret": "company-tls"}}) == [
        f"elasticsearch.tls.{key}: rotates the generated CA, and existingSecret replaces it: set one of them"
    ]


def test_certificates_live_at_least_30_days() -> None:
    found = problems(elasticsearch={"tls": {"validityDays": 7, "earlyRenewalDays": 1}})
    assert (
        len(found) == 1
        and found[0] == "elasticsearch.tls.validityDays: 7 is less than 30, the least it can be"
    )


def test_existing_secret_must_be_a_secret_name() -> None:
    found = problems(elasticsearch={"tls": {"existingSecret": "Company PKI"}})
    assert len(found) == 1 and found[0].startswith("elasticsearch.tls.existingSecret: 'Company PKI' is not")


def test_https_needs_security() -> None:
    assert problems(security={"enabled": False}, elasticsearch={"tls": {"http": True}}) == [
        "elasticsearch.tls.http: HTTPS needs security; remove it or enable security"
    ]
    assert problems(security={"enabled": False}) == [], "the default alone is no error"


def test_own_pki_needs_security() -> None:
    assert problems(security={"enabled": False}, elasticsearch={"tls": {"existingSecret": "pki"}}) == [
        "elasticsearch.tls.existingSecret: has no effect with security.enabled false"
    ]


def test_pipeline_may_use_only_variables_the_mode_sets() -> None:
    found = problems(
        elasticsearch={"tls": {"http": False}}, logstash={"pipeline": "pipelines/spring-boot-json.conf"}
    )
    assert found == [
        "logstash.pipeline: pipelines/spring-boot-json.conf uses ${ELASTICSEARCH_CA}, which is set only "
        "when security.enabled and elasticsearch.tls.http are true"
    ]


def test_pipeline_variable_typos_are_caught(tmp_path: Path) -> None:
    (tmp_path / "typo.conf").write_text(
        'input { tcp { port => 5000 } }\noutput { elasticsearch { hosts => ["${ELASTICSERACH_HOSTS}"] } }\n'
        "# ${COMMENTED_OUT} is ignored, ${WITH_DEFAULT:x} has a default\n"
    )
    with pytest.raises(ConfigError) as error:
        load_config({"namespace": "elk", "logstash": '{"pipeline": "typo.conf"}'}, tmp_path)
    assert error.value.problems == [
        "logstash.pipeline: typo.conf uses ${ELASTICSERACH_HOSTS}, which nothing sets"
    ]


@pytest.mark.parametrize(
    ("sections", "pipeline"),
    [
        ({}, "pipelines/spring-boot-json.conf"),
        ({"elasticsearch": {"tls": {"http": False}}}, "pipelines/spring-boot-json-http.conf"),
        ({"security": {"enabled": False}}, "pipelines/spring-boot-json-insecure.conf"),
    ],
)
def test_default_pipeline_matches_the_security_mode(sections: dict[str, Any], pipeline: str) -> None:
    config = valid(**sections)
    assert config.logstash.pipeline == pipeline
    assert config.logstash.pipeline_text == (PROJECT_DIR / pipeline).read_text()


def test_network_peer_needs_a_selector() -> None:
    assert problems(networkPolicy={"logstashFrom": [{}]}) == [
        "networkPolicy.logstashFrom[0].podLabels: give namespaceLabels, podLabels or both"
    ]


def test_logstash_user_and_indices() -> None:
    found = problems(security={"logstashUser": "Logstash Writer", "logstashIndices": []})
    assert [line.split(":")[0] for line in found] == ["security.logstashIndices", "security.logstashUser"]


def test_kibanas_keys_secret_needs_security() -> None:
    assert problems(security={"enabled": False}, kibana={"encryptionKeysSecret": "old-keys"}) == [
        "kibana.encryptionKeysSecret: has no effect with security.enabled false"
    ]


def test_kibanas_keys_secret_is_not_one_of_the_stacks_own_secrets() -> None:
    found = problems(kibana={"encryptionKeysSecret": "elk-kibana-credentials"})
    assert len(found) == 1 and found[0].startswith(
        "kibana.encryptionKeysSecret: 'elk-kibana-credentials' is a name of this stack's own objects"
    )
    assert valid(kibana={"encryptionKeysSecret": "elk-kibana-encryption-keys"}).kibana.encryption_keys_secret
    assert problems(kibana={"encryptionKeysSecret": "Old Keys"})[0].startswith(
        "kibana.encryptionKeysSecret: 'Old Keys' is not"
    )


def test_the_stack_prefix_the_rule_knows_is_the_stacks() -> None:
    assert f"{common.INSTANCE}-" == STACK_OBJECTS_PREFIX
    assert f"{common.INSTANCE}-kibana-encryption-keys" == KEYS_SECRET_OF_A_STACK
