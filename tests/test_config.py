"""Every validation rule, with the message a user sees and the key path it names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.configuration import ConfigError, StackConfig, load_config, parse_config_values
from tests.conftest import problems, valid

PROJECT_DIR = Path(__file__).resolve().parent.parent


def limits(memory: str | int, cpu: str | int = "1") -> dict[str, Any]:
    return {"resources": {"limits": {"cpu": cpu, "memory": memory}}}


def test_only_namespace_is_required() -> None:
    config = valid()
    assert config.elasticsearch.replicas == 1
    assert config.logstash.queue.type == "persisted"
    assert config.kibana.service.type == "ClusterIP"


def test_missing_namespace_is_named() -> None:
    with pytest.raises(ConfigError) as error:
        load_config({}, PROJECT_DIR)
    assert error.value.problems == ["namespace: is required"]


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        ({"storgeClass": "ssd"}, "storgeClass: unknown key; did you mean 'storageClass'?"),
        (
            {"elasticsearch": {"storage": {"size": "1Gi", "storgeClass": "ssd"}}},
            "elasticsearch.storage.storgeClass: unknown key; did you mean 'storageClass'?",
        ),
        ({"kibana": {"replica": 2}}, "kibana.replica: unknown key; did you mean 'replicas'?"),
    ],
)
def test_unknown_keys_are_errors_with_a_suggestion(sections: dict[str, Any], expected: str) -> None:
    assert expected in problems(**sections)


@pytest.mark.parametrize("quantity", ["4 GB", "-1Gi", "abc", "1.5.2Gi", ""])
def test_invalid_quantities_are_named(quantity: str) -> None:
    found = problems(elasticsearch={"resources": {"limits": {"cpu": "1", "memory": quantity}}})
    assert any(
        line.startswith("elasticsearch.resources.limits.memory:") and "not a Kubernetes quantity" in line
        for line in found
    ), found


@pytest.mark.parametrize("quantity", ["2Gi", "2048Mi", "2G", "1.5Gi", "2e9", 3221225472])
def test_valid_quantities_pass(quantity: str | int) -> None:
    """YAML numbers are quantities too (`memory: 3221225472`, `cpu: 1`)."""
    assert problems(elasticsearch=limits(quantity, cpu=1)) == []


def test_zero_storage_size_is_rejected() -> None:
    assert problems(elasticsearch={"storage": {"size": "0"}}) == [
        "elasticsearch.storage.size: '0' must be larger than zero"
    ]


def test_elasticsearch_heap_over_half_the_limit_names_the_heap() -> None:
    found = problems(elasticsearch={"heap": "2g", **limits("2Gi")})
    assert len(found) == 1
    assert found[0].startswith("elasticsearch.heap: 2g is more than 50% of resources.limits.memory (2Gi)")


def test_elasticsearch_heap_at_exactly_half_is_allowed() -> None:
    assert valid(elasticsearch={"heap": "1g", **limits("2Gi")}).elasticsearch.java_options == (
        "-Xms1g -Xmx1g"
    )


def test_logstash_heap_may_use_up_to_three_quarters() -> None:
    assert problems(logstash={"heap": "1536m", **limits("2Gi")}) == []
    found = problems(logstash={"heap": "1537m", **limits("2Gi")})
    assert [line.split(":")[0] for line in found] == ["logstash.heap"]
    assert "more than 75%" in found[0]


def test_heap_defaults_to_half_the_limit() -> None:
    config = valid(elasticsearch=limits("3Gi"), logstash=limits("1Gi"))
    assert config.elasticsearch.java_options == "-Xms1536m -Xmx1536m"
    assert config.logstash.java_options == "-Xms512m -Xmx512m"


@pytest.mark.parametrize("heap", ["2 g", "2gb", "0m", "-1g", "1.5g"])
def test_heap_uses_jvm_notation(heap: str) -> None:
    found = problems(elasticsearch={"heap": heap})
    assert any(line.startswith("elasticsearch.heap:") and "JVM heap size" in line for line in found), found


def test_requests_must_not_exceed_limits() -> None:
    found = problems(
        logstash={
            "resources": {"requests": {"cpu": "2", "memory": "3Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}}
        }
    )
    assert found == [
        "logstash.resources.requests.cpu: the request 2 exceeds the limit 1",
        "logstash.resources.requests.memory: the request 3Gi exceeds the limit 2Gi",
    ]


def test_memory_limit_is_required_for_every_component() -> None:
    """Only an explicit null can remove it, since partial resources keep the defaults."""
    no_memory_limit = {"resources": {"limits": {"memory": None}}}
    found = problems(elasticsearch=no_memory_limit, logstash=no_memory_limit, kibana=no_memory_limit)
    for component in ("elasticsearch", "logstash"):
        assert (
            f"{component}.resources.limits.memory: a memory limit is required: the JVM heap is sized from it"
            in (found)
        )
    assert (
        "kibana.resources.limits.memory: a memory limit is required: Kibana's Node.js heap is sized "
        "from it, and it must be at least 1Gi"
    ) in found
    assert not any("JVM" in line for line in found if line.startswith("kibana.")), "Kibana has no JVM"


def test_partial_resources_keep_the_other_defaults() -> None:
    """`pulumi config set --path elasticsearch.resources.limits.memory 4Gi` changes just that."""
    config = valid(elasticsearch={"resources": {"limits": {"memory": "4Gi"}}})
    resources = config.elasticsearch.resources
    assert (resources.limits.cpu, resources.limits.memory) == (None, "4Gi")
    assert (resources.requests.cpu, resources.requests.memory) == ("500m", "4Gi")
    assert config.elasticsearch.java_options == "-Xms2048m -Xmx2048m"


def test_default_cpu_request_is_capped_by_a_lower_limit() -> None:
    resources = valid(kibana={"resources": {"limits": {"cpu": "100m"}}}).kibana.resources
    assert resources.requests.cpu == "100m"
    assert valid(kibana={"resources": {"limits": {"cpu": "2"}}}).kibana.resources.requests.cpu == "250m"


def test_an_explicit_request_is_checked_against_an_explicit_limit() -> None:
    assert problems(kibana={"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}) == [
        "kibana.resources.requests.cpu: the request 2 exceeds the limit 1"
    ]


def test_cpu_may_be_left_without_request_and_limit() -> None:
    """Null removes a default; a container without CPU request or limit is valid Kubernetes."""
    resources = valid(
        kibana={"resources": {"requests": {"cpu": None}, "limits": {"cpu": None}}}
    ).kibana.resources
    assert (resources.requests.cpu, resources.limits.cpu) == (None, None)
    assert resources.limits.memory == "2Gi"


def test_kibana_needs_at_least_1gi() -> None:
    assert problems(kibana=limits("1Gi")) == []
    assert problems(kibana=limits("1023Mi")) == [
        "kibana.resources.limits.memory: 1023Mi is below the 1Gi Kibana needs to start"
    ]


def test_jvm_components_need_512mi() -> None:
    assert problems(logstash=limits("256Mi")) == [
        "logstash.resources.limits.memory: 256Mi is below the 512Mi a JVM service needs"
    ]


@pytest.mark.parametrize("version", ["7.17.20", "6.8.0"])
def test_versions_before_8_are_end_of_life(version: str) -> None:
    assert problems(version=version) == [
        f"version: {version} is not supported: 7.x and older are end-of-life; use 8.0 or later"
    ]


@pytest.mark.parametrize("version", ["8.0.0", "8.19.3", "9.4.3"])
def test_supported_versions(version: str) -> None:
    assert problems(version=version) == []


def test_version_must_be_complete() -> None:
    assert problems(version="9.4") == ["version: '9.4' is not a version like 9.4.3"]


@pytest.mark.parametrize("namespace", ["Elk-QA", "elk_qa", "-elk", "elk-", "a" * 64, "elk.qa"])
def test_namespace_must_be_a_dns_label(namespace: str) -> None:
    found = problems(namespace=namespace)
    assert len(found) == 1 and found[0].startswith("namespace:") and "DNS-1123 label" in found[0]


def test_image_pull_secret_names_are_checked_by_index() -> None:
    found = problems(imagePullSecrets=["regcred", "Bad_Name"])
    assert len(found) == 1 and found[0].startswith("imagePullSecrets[1]:")


def test_pipeline_file_must_exist() -> None:
    found = problems(logstash={"pipeline": "pipelines/missing.conf"})
    assert len(found) == 1
    assert found[0].startswith("logstash.pipeline: pipeline file 'pipelines/missing.conf' does not exist")


def test_a_pipeline_without_a_listening_input_is_valid_and_has_no_ports(tmp_path: Path) -> None:
    (tmp_path / "quiet.conf").write_text('input { kafka { topics => ["logs"] } }\noutput { stdout {} }\n')
    config = load_config({"namespace": "elk", "logstash": '{"pipeline": "quiet.conf"}'}, tmp_path)
    assert config.logstash.ports == []


def test_queue_max_bytes_must_fit_its_volume() -> None:
    found = problems(logstash={"queue": {"maxBytes": "4gb", "storage": {"size": "2Gi"}}})
    assert found == [
        "logstash.queue.maxBytes: 4gb does not fit the queue volume (storage.size 2Gi); "
        "lower maxBytes or raise storage.size"
    ]


def test_a_queue_message_names_only_the_defaults_the_user_left() -> None:
    assert problems(logstash={"queue": {"maxBytes": "4gb"}}) == [
        "logstash.queue.maxBytes: 4gb does not fit the queue volume (storage.size 2Gi, the default); "
        "lower maxBytes or raise storage.size"
    ]
    assert problems(logstash={"queue": {"maxBytes": "1gb", "storage": {"size": "512Mi"}}}) == [
        "logstash.queue.maxBytes: 1gb does not fit the queue volume (storage.size 512Mi); "
        "lower maxBytes or raise storage.size"
    ]


def test_queue_max_bytes_notation() -> None:
    found = problems(logstash={"queue": {"maxBytes": "1GiB"}})
    assert len(found) == 1 and found[0].startswith("logstash.queue.maxBytes:")


def test_enumerations_name_their_choices() -> None:
    found = problems(kibana={"service": {"type": "Ingress"}}, logstash={"queue": {"type": "disk"}})
    assert found[0].startswith(
        "kibana.service.type: Input should be 'ClusterIP', 'NodePort' or 'LoadBalancer'"
    )
    assert found[1].startswith("logstash.queue.type: Input should be 'persisted' or 'memory'")


def test_ingress_host_must_be_a_dns_name() -> None:
    assert problems(kibana={"ingress": {"host": "https://kibana.example.com"}}) == [
        "kibana.ingress.host: 'https://kibana.example.com' is not a DNS host name "
        "(a leading `*.` is the only wildcard)"
    ]


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        namespace="Bad_NS",
        version="7.10.0",
        storgeClass="ssd",
        elasticsearch={"heap": "4g", **limits("4Gi")},
        logstash={"pipeline": "nope.conf"},
        kibana=limits("512Mi"),
    )
    assert [line.split(":")[0] for line in found] == [
        "elasticsearch.heap",
        "kibana.resources.limits.memory",
        "logstash.pipeline",
        "namespace",
        "storgeClass",
        "version",
    ]


def test_error_message_lists_one_problem_per_line() -> None:
    error = ConfigError(["a: one", "b: two"])
    assert str(error).splitlines() == ["invalid elk-stack config (2 problems):", "  - a: one", "  - b: two"]


def test_storage_class_defaults_from_the_top_level() -> None:
    config = valid(storageClass="hdd", elasticsearch={"storage": {"size": "5Gi", "storageClass": "ssd"}})
    assert config.elasticsearch.storage.storage_class == "ssd"
    assert config.logstash.queue.storage.storage_class == "hdd"


def test_config_values_decode_like_the_engine_passes_them() -> None:
    assert parse_config_values({"a": '{"b": 1}', "c": "[1]", "d": "true", "e": "{not json"}) == {
        "a": {"b": 1},
        "c": [1],
        "d": "true",
        "e": "{not json",
    }
    assert valid(createNamespace="true").create_namespace is True


# Security, TLS and NetworkPolicy rules.


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


def test_certificates_live_at_least_30_days() -> None:
    found = problems(elasticsearch={"tls": {"validityDays": 7, "earlyRenewalDays": 1}})
    assert len(found) == 1 and found[0].startswith("elasticsearch.tls.validityDays: Input should be greater")


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


def test_cross_key_rules_are_reported_next_to_other_problems_of_the_section() -> None:
    """A typo elsewhere in a section must not hide the heap or memory rules."""
    found = problems(
        elasticsearch={"heap": "3g", "resources": {"limits": {"memory": "4Gi"}}, "replica": 1},
        logstash={"pipeline": "nope.conf", "heap": "2g"},
        kibana={"resources": {"limits": {"memory": "512Mi"}}, "bogus": True},
    )
    assert [line.split(":")[0] for line in found] == [
        "elasticsearch.heap",
        "elasticsearch.replica",
        "kibana.bogus",
        "kibana.resources.limits.memory",
        "logstash.heap",
        "logstash.pipeline",
    ]


def test_default_queue_cap_must_fit_a_small_volume() -> None:
    assert problems(logstash={"queue": {"storage": {"size": "512Mi"}}}) == [
        "logstash.queue.maxBytes: 1gb (the default) does not fit the queue volume (storage.size 512Mi); "
        "lower maxBytes or raise storage.size"
    ]
    assert problems(logstash={"queue": {"type": "memory", "storage": {"size": "512Mi"}}}) == []


# Retention and capacity.


def test_retention_is_whole_days() -> None:
    assert valid(elasticsearch={"retention": {"maxAge": "30d"}}).elasticsearch.retention.days == 30
    found = problems(elasticsearch={"retention": {"maxAge": "2w", "rolloverSize": "10 GB"}})
    assert [line.split(":")[0] for line in found] == [
        "elasticsearch.retention.maxAge",
        "elasticsearch.retention.rolloverSize",
    ]


def test_a_too_small_volume_is_a_warning_by_default() -> None:
    config = valid(elasticsearch={"capacity": {"eventsPerDay": 2_000_000, "avgEventBytes": 800}})
    (warning,) = config.elasticsearch.capacity_shortfalls()
    assert warning.startswith("elasticsearch.storage.size: 10Gi is smaller than the ~")
    assert "(see `make size`)" in warning


def test_a_too_small_volume_is_an_error_when_enforced() -> None:
    found = problems(
        elasticsearch={
            "storage": {"size": "10Gi"},
            "retention": {"maxAge": "14d"},
            "capacity": {"eventsPerDay": 2_000_000, "avgEventBytes": 800, "enforce": True},
        }
    )
    assert len(found) == 1
    assert found[0].startswith(
        "elasticsearch.storage.size: 10Gi is smaller than the ~29.5Gi each data node needs"
    )


def test_a_large_enough_volume_passes_even_when_enforced() -> None:
    config = valid(
        elasticsearch={
            "storage": {"size": "30Gi"},
            "retention": {"maxAge": "14d"},
            "capacity": {"eventsPerDay": 2_000_000, "avgEventBytes": 800, "enforce": True},
        }
    )
    assert config.elasticsearch.capacity_shortfalls() == []


def test_capacity_names_the_node_set_that_is_short() -> None:
    found = problems(
        elasticsearch={
            "nodeSets": [
                {"name": "master", "replicas": 3, "roles": ["master"], "storage": {"size": "1Gi"}},
                {"name": "data", "replicas": 2, "roles": ["data"], "storage": {"size": "5Gi"}},
            ],
            "capacity": {"eventsPerDay": 2_000_000, "avgEventBytes": 800, "enforce": True},
        }
    )
    assert [line.split(":")[0] for line in found] == ["elasticsearch.nodeSets[1].storage.size"]


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


def test_retention_data_streams_are_checked_as_elasticsearch_checks_template_patterns() -> None:
    streams = ["logs-springboot-*", "Logs-App-*", "logs app", "_hidden-*", "*", "logs-springboot-*", ""]
    assert problems(elasticsearch={"retention": {"dataStreams": streams}}) == [
        "elasticsearch.retention.dataStreams[1]: 'Logs-App-*' must be lower case",
        "elasticsearch.retention.dataStreams[2]: 'logs app' contains ' '",
        "elasticsearch.retention.dataStreams[3]: '_hidden-*' must not start with '_', '-' or '+'",
        "elasticsearch.retention.dataStreams[4]: '*' would match every index, system ones too",
        "elasticsearch.retention.dataStreams[5]: 'logs-springboot-*' is listed twice",
        "elasticsearch.retention.dataStreams[6]: must not be empty",
    ]
    assert problems(elasticsearch={"retention": {"dataStreams": []}}) == [
        "elasticsearch.retention.dataStreams: List should have at least 1 item after validation, not 0"
    ]
