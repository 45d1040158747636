"""Every validation rule, with the message a user sees and the key path it names.

Here the general ones: required and unknown keys, quantities, heaps, resources, versions,
names, the queue, and every problem reported at once. The rules of security, retention and
key spelling have modules of their own beside this one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.configuration import ConfigError, load_config, parse_config_values
from tests.conftest import problems, valid
from tools.render import PROJECT_DIR


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
    assert found == [
        "kibana.service.type: \"Ingress\" is not one of 'ClusterIP', 'NodePort' or 'LoadBalancer'",
        "logstash.queue.type: \"disk\" is not one of 'persisted' or 'memory'",
    ]


NOT_KEYS = "is not a group of keys; write it as `key: value` lines or `{key: value}`"


def test_a_value_of_the_wrong_kind_is_named_in_the_stack_files_words() -> None:
    """Not pydantic's "Input should be a valid dictionary or instance of Storage"."""
    found = problems(
        elasticsearch={"storage": "20Gi", "replicas": "three"}, kibana={"ingress": "kibana.local"}
    )
    assert found == [
        'elasticsearch.replicas: "three" is not a whole number',
        f'elasticsearch.storage: "20Gi" {NOT_KEYS}',
        f'kibana.ingress: "kibana.local" {NOT_KEYS}',
    ]
    assert not [line for line in found if "instance of" in line or "Input should" in line]


def test_a_dollar_brace_is_not_expanded_and_the_message_says_so() -> None:
    (found,) = problems(namespace="${HOSTNAME}")
    assert found.endswith("nothing expands `${...}` in a stack file: write the value itself")


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
