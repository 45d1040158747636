"""Value rules: each value refused the way Kubernetes, the JVM or Elastic would.

Every test here failed before its rule existed: it either expected a clean message where
there was a traceback or acceptance, or acceptance where a default made a valid setting an
error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from components.configuration import ConfigError, StackConfig
from components.configuration.security import RESERVED_ROLES, RESERVED_USERS
from tests.conftest import find, problems, valid
from tools.render import Rendered

Render = Callable[..., Rendered]
TOO_LARGE = "1e1000000"


def keys(found: list[str]) -> list[str]:
    """The key paths the problem lines name."""
    return [line.split(":")[0] for line in found]


def only_problem_at(key: str, **sections: Any) -> str:
    """The one problem of a config, which must be at `key`; its message."""
    found = problems(**sections)
    assert keys(found) == [key], found
    return found[0].removeprefix(f"{key}: ")


# 1. Numbers too large to compute are a message at the key, not a traceback.


@pytest.mark.parametrize(
    ("sections", "key"),
    [
        (
            {"elasticsearch": {"resources": {"limits": {"memory": TOO_LARGE}}}},
            "elasticsearch.resources.limits.memory",
        ),
        ({"kibana": {"resources": {"requests": {"cpu": TOO_LARGE}}}}, "kibana.resources.requests.cpu"),
        ({"elasticsearch": {"storage": {"size": TOO_LARGE}}}, "elasticsearch.storage.size"),
        ({"logstash": {"queue": {"storage": {"size": "9" * 5000}}}}, "logstash.queue.storage.size"),
        ({"elasticsearch": {"heap": "9" * 5000 + "g"}}, "elasticsearch.heap"),
        ({"logstash": {"queue": {"maxBytes": "9" * 5000 + "gb"}}}, "logstash.queue.maxBytes"),
    ],
)
def test_a_number_too_large_is_named_at_its_key(sections: dict[str, Any], key: str) -> None:
    message = only_problem_at(key, **sections)
    assert "out of range" in message
    assert len(message) < 200, "the message quotes a shortened value"


def test_quantities_stop_where_kubernetes_stops() -> None:
    assert problems(elasticsearch={"storage": {"size": "7Ei"}}) == []
    assert "out of range" in only_problem_at(
        "elasticsearch.storage.size", elasticsearch={"storage": {"size": "8Ei"}}
    )


# 2. A null leaves a key unset: its default, never the text "None".


@pytest.mark.parametrize("null", ["null", ""])
def test_a_top_level_null_is_unset(null: str) -> None:
    """The engine hands a top-level `key: null` to the program as `null` or empty text."""
    config = valid(storageClass=null, version=null)
    assert config.storage_class is None
    assert config.elasticsearch.storage.storage_class is None
    assert config.version == StackConfig.model_fields["version"].default


def test_a_nested_null_is_unset() -> None:
    config = valid(
        storageClass="ssd",
        elasticsearch={"image": None, "storage": {"size": "5Gi", "storageClass": None}},
        kibana={"ingress": {"host": "kibana.example.com", "className": None}},
    )
    assert config.elasticsearch.image == "docker.elastic.co/elasticsearch/elasticsearch"
    assert config.elasticsearch.storage.storage_class == "ssd"
    assert config.kibana.ingress is not None and config.kibana.ingress.class_name is None


def test_a_required_key_set_to_null_is_required() -> None:
    assert problems(namespace="null") == ["namespace: is required"]
    assert problems(namespace="") == ["namespace: is required"]


def test_none_is_not_a_storage_class(render: Render) -> None:
    assert keys(problems(storageClass="None")) == ["storageClass"]
    rendered = render(storageClass="null")
    claims = [m for m in rendered.manifests if m["kind"] == "PersistentVolumeClaim"]
    assert claims and all("storageClassName" not in claim["spec"] for claim in claims)


# 3. Heaps need a JVM unit and a minimum; byte quantities are whole bytes.


def test_a_heap_without_unit_is_refused() -> None:
    message = only_problem_at("elasticsearch.heap", elasticsearch={"heap": "2048"})
    assert "no unit" in message and "2048m" in message
    assert keys(problems(logstash={"heap": 1024})) == ["logstash.heap"]


@pytest.mark.parametrize("heap", ["255m", "128m", "262143k"])
def test_a_heap_below_256m_is_refused(heap: str) -> None:
    assert "256m minimum" in only_problem_at("logstash.heap", logstash={"heap": heap})


def test_a_heap_of_256m_is_enough() -> None:
    assert valid(logstash={"heap": "256m"}).logstash.java_options == "-Xms256m -Xmx256m"


@pytest.mark.parametrize(
    ("sections", "key"),
    [
        ({"kibana": {"resources": {"limits": {"memory": "2048m"}}}}, "kibana.resources.limits.memory"),
        ({"logstash": {"resources": {"requests": {"memory": "512m"}}}}, "logstash.resources.requests.memory"),
        ({"elasticsearch": {"storage": {"size": "10m"}}}, "elasticsearch.storage.size"),
    ],
)
def test_milli_bytes_are_refused_with_a_hint(sections: dict[str, Any], key: str) -> None:
    message = only_problem_at(key, **sections)
    value = message.split("'")[1]
    assert f"did you mean {value.removesuffix('m')}Mi?" in message


def test_cpu_keeps_milli() -> None:
    assert valid(kibana={"resources": {"limits": {"cpu": "500m"}}}).kibana.resources.limits.cpu == "500m"


# 4. Logstash's user is never a built-in user or role.


@pytest.mark.parametrize("user", RESERVED_USERS + RESERVED_ROLES)
def test_logstash_user_is_not_built_in(user: str) -> None:
    assert keys(problems(security={"logstashUser": user})) == ["security.logstashUser"]


def test_the_superuser_is_refused_with_a_reason() -> None:
    message = only_problem_at("security.logstashUser", security={"logstashUser": "elastic"})
    assert "built-in Elasticsearch user" in message


# 5. Names checked against Kubernetes' own rules.


@pytest.mark.parametrize("name", ["Fast SSD", "ssd_fast", "-ssd", "a" * 254])
def test_storage_class_names_are_dns_subdomains(name: str) -> None:
    assert keys(problems(storageClass=name)) == ["storageClass"]
    found = problems(elasticsearch={"storage": {"size": "1Gi", "storageClass": name}})
    assert keys(found) == ["elasticsearch.storage.storageClass"]


def test_a_storage_class_may_have_dots() -> None:
    assert valid(storageClass="fast.ssd.example.com").storage_class == "fast.ssd.example.com"


@pytest.mark.parametrize(
    "image",
    [
        "docker.elastic.co/elasticsearch/elasticsearch:8.0.0",
        "elasticsearch:8.0.0",
        "docker.elastic.co/elasticsearch/elasticsearch@sha256:" + "a" * 64,
        "",
        "Docker.Elastic.co/Elasticsearch",
        "registry.example.com/team//elasticsearch",
        "registry.example.com/elasticsearch/",
    ],
)
def test_image_is_a_repository_without_tag(image: str) -> None:
    for section in ("elasticsearch", "logstash", "kibana"):
        assert keys(problems(**{section: {"image": image}})) == [f"{section}.image"]


def test_a_tag_in_image_points_at_version() -> None:
    message = only_problem_at("kibana.image", kibana={"image": "docker.elastic.co/kibana/kibana:8.0.0"})
    assert "has a tag" in message and "`version`" in message


@pytest.mark.parametrize(
    "image",
    ["registry.example.com:5000/team/elasticsearch", "localhost:5000/es", "mirror/elastic_search-oss", "es"],
)
def test_image_may_name_a_registry_with_port(image: str) -> None:
    assert valid(elasticsearch={"image": image}).elasticsearch.image == image


def test_ingress_class_name_is_a_dns_subdomain() -> None:
    found = problems(kibana={"ingress": {"host": "kibana.example.com", "className": "Nginx Public"}})
    assert keys(found) == ["kibana.ingress.className"]


def test_secret_names_may_have_dots() -> None:
    config = valid(
        imagePullSecrets=["my.secret"],
        elasticsearch={"tls": {"existingSecret": "es.tls"}},
        kibana={"ingress": {"host": "kibana.example.com", "tlsSecretName": "kibana.tls"}},
    )
    assert config.image_pull_secrets == ["my.secret"]
    assert config.elasticsearch.tls.existing_secret == "es.tls"
    assert config.kibana.ingress is not None and config.kibana.ingress.tls_secret_name == "kibana.tls"


def test_secret_names_are_still_checked() -> None:
    found = problems(
        imagePullSecrets=["My Secret"],
        kibana={"ingress": {"host": "kibana.example.com", "tlsSecretName": "kibana_tls"}},
    )
    assert keys(found) == ["imagePullSecrets[0]", "kibana.ingress.tlsSecretName"]


@pytest.mark.parametrize(
    "host",
    ["a" * 64 + ".example.com", "kibana.*.example.com", "*kibana.example.com", "*", "10.0.0.1", "*.10.0.0.1"],
)
def test_ingress_hosts_follow_the_api_server(host: str) -> None:
    assert keys(problems(kibana={"ingress": {"host": host}})) == ["kibana.ingress.host"]


def test_a_wildcard_host_renders_without_a_public_url(render: Render) -> None:
    rendered = render(kibana={"ingress": {"host": "*.kibana.example.com", "tlsSecretName": "wildcard.tls"}})
    ingress = find(rendered.manifests, "Ingress", "elk-kibana")
    assert ingress["spec"]["rules"][0]["host"] == "*.kibana.example.com"
    kibana_yml = yaml.safe_load(
        find(rendered.manifests, "ConfigMap", "elk-kibana-config")["data"]["kibana.yml"]
    )
    assert "server.publicBaseUrl" not in kibana_yml
    assert "*" not in rendered.outputs["kibanaUrl"]


def test_a_host_label_of_63_characters_is_fine() -> None:
    host = "a" * 63 + ".example.com"
    assert valid(kibana={"ingress": {"host": host}}).kibana.ingress is not None


@pytest.mark.parametrize(
    "labels",
    [
        {"bad key": "x"},
        {"a" * 64: "x"},
        {"Example.COM/app": "x"},
        {"/app": "x"},
        {"app": "a" * 64},
        {"app": "-x"},
        {"app": "x y"},
    ],
)
def test_network_policy_labels_are_kubernetes_labels(labels: dict[str, str]) -> None:
    found = problems(
        networkPolicy={"logstashFrom": [{"podLabels": labels}], "kibanaFrom": [{"namespaceLabels": labels}]}
    )
    assert found and all(
        key.startswith(
            ("networkPolicy.logstashFrom[0].podLabels", "networkPolicy.kibanaFrom[0].namespaceLabels")
        )
        and "[key]" not in key
        for key in keys(found)
    ), found


def test_network_policy_labels_accept_prefixes_and_empty_values() -> None:
    labels = {"kubernetes.io/metadata.name": "ingress-nginx", "app.kubernetes.io/name": "", "tier": "a.b-c_d"}
    config = valid(networkPolicy={"kibanaFrom": [{"namespaceLabels": labels}]})
    assert config.network_policy.kibana_from[0].namespace_labels == labels


# 6. Replicas have an upper bound.


@pytest.mark.parametrize(
    ("sections", "key"),
    [
        ({"elasticsearch": {"replicas": 101}}, "elasticsearch.replicas"),
        ({"logstash": {"replicas": 2**31}}, "logstash.replicas"),
        ({"kibana": {"replicas": 10**12}}, "kibana.replicas"),
        (
            {"elasticsearch": {"nodeSets": [{"name": "all", "roles": ["master", "data"], "replicas": 101}]}},
            "elasticsearch.nodeSets[0].replicas",
        ),
    ],
)
def test_replicas_stop_at_100(sections: dict[str, Any], key: str) -> None:
    assert "more than 100" in only_problem_at(key, **sections)


def test_100_replicas_are_allowed() -> None:
    assert valid(kibana={"replicas": 100}).kibana.replicas == 100


# 7. New indices need a node of the hot and of the content tier.


@pytest.mark.parametrize("tier", ["data_cold", "data_warm", "data_frozen"])
def test_tier_only_data_roles_are_refused(tier: str) -> None:
    found = problems(elasticsearch={"nodeSets": [{"name": "all", "roles": ["master", tier]}]})
    assert keys(found) == ["elasticsearch.nodeSets", "elasticsearch.nodeSets"]
    assert any("data_hot" in line and "data streams" in line for line in found)
    assert any("data_content" in line and "system indices" in line for line in found)


def test_hot_without_content_is_refused() -> None:
    found = problems(elasticsearch={"nodeSets": [{"name": "all", "roles": ["master", "data_hot"]}]})
    assert len(found) == 1 and "data_content" in found[0]


@pytest.mark.parametrize(
    "data_roles",
    [["data"], ["data_hot", "data_content"], ["data_hot", "data_content", "data_cold"]],
)
def test_the_required_tiers_may_come_from_any_set(data_roles: list[str]) -> None:
    node_sets = [{"name": "master", "roles": ["master"]}] + [
        {"name": f"set-{index}", "roles": [role]} for index, role in enumerate(data_roles)
    ]
    assert problems(elasticsearch={"nodeSets": node_sets}) == []


# 8. A default never turns a valid setting of the user's into an error.


def test_a_cpu_request_above_the_default_limit_raises_it() -> None:
    resources = valid(logstash={"resources": {"requests": {"cpu": "2"}}}).logstash.resources
    assert (resources.requests.cpu, resources.limits.cpu) == ("2", "2")


def test_a_memory_request_above_the_default_limit_raises_it() -> None:
    config = valid(
        kibana={"resources": {"requests": {"memory": "4Gi"}}},
        elasticsearch={"resources": {"requests": {"memory": "4Gi"}}},
    )
    assert config.kibana.resources.limits.memory == "4Gi"
    assert config.elasticsearch.resources.limits.memory == "4Gi"
    assert config.elasticsearch.java_options == "-Xms2048m -Xmx2048m"


def test_a_heap_over_the_default_limit_says_the_limit_is_a_default() -> None:
    message = only_problem_at("elasticsearch.heap", elasticsearch={"heap": "4g"})
    assert message.endswith(
        "Lower the heap or raise the limit (2Gi is the default: set resources.limits.memory)"
    )


def test_a_heap_over_a_limit_the_user_set_does_not_talk_of_defaults() -> None:
    message = only_problem_at(
        "elasticsearch.heap", elasticsearch={"heap": "3g", "resources": {"limits": {"memory": "4Gi"}}}
    )
    assert message.endswith("Lower the heap or raise the limit")


@pytest.mark.parametrize("section", ["elasticsearch", "logstash"])
def test_a_limit_the_user_set_to_the_default_value_is_not_called_a_default(section: str) -> None:
    memory = {"elasticsearch": "2Gi", "logstash": "1Gi"}[section]
    message = only_problem_at(
        f"{section}.heap", **{section: {"heap": "2g", "resources": {"limits": {"memory": memory}}}}
    )
    assert message.endswith("Lower the heap or raise the limit")


# 9. A mistyped limit is reported at the limit.


def test_a_mistyped_memory_limit_is_named_where_it_was_typed() -> None:
    assert keys(problems(elasticsearch={"resources": {"limits": {"memory": "4096m"}}})) == [
        "elasticsearch.resources.limits.memory"
    ]
    found = problems(kibana={"resources": {"requests": {"memory": "4Gi"}, "limits": {"memory": "4096m"}}})
    assert keys(found) == ["kibana.resources.limits.memory"]


def test_null_requests_remove_the_default_requests_only() -> None:
    """Requests then follow the limits, as Kubernetes defaults them."""
    resources = valid(kibana={"resources": {"requests": None}}).kibana.resources
    assert (resources.requests.cpu, resources.requests.memory) == ("1", "2Gi")
    assert keys(problems(kibana={"resources": {"limits": None}})) == ["kibana.resources.limits.memory"]


def test_a_null_inline_key_does_not_clash_with_node_sets() -> None:
    node_sets = [{"name": "all", "roles": ["master", "data"]}]
    assert problems(elasticsearch={"heap": None, "storage": None, "nodeSets": node_sets}) == []


def test_a_too_small_default_volume_says_it_is_the_default() -> None:
    capacity = {"eventsPerDay": 2_000_000, "avgEventBytes": 800}
    (warning,) = valid(elasticsearch={"capacity": capacity}).elasticsearch.capacity_shortfalls()
    assert warning.endswith("; 10Gi is the default size: set elasticsearch.storage.size to change it")
    (warning,) = valid(
        elasticsearch={"capacity": capacity, "storage": {"size": "10Gi"}}
    ).elasticsearch.capacity_shortfalls()
    assert "default" not in warning


# Review: values the render accepted but `pulumi up` or Elasticsearch would refuse.


def test_certificates_live_at_most_ten_years() -> None:
    assert only_problem_at("elasticsearch.tls.validityDays", elasticsearch={"tls": {"validityDays": 300000}})
    assert problems(elasticsearch={"tls": {"validityDays": 3650}}) == []


def test_retention_stops_at_a_hundred_years() -> None:
    message = only_problem_at(
        "elasticsearch.retention.maxAge", elasticsearch={"retention": {"maxAge": "99999999999999999999999d"}}
    )
    assert message == "99999999999999999999999d is more than 36500d (100 years)"
    assert problems(elasticsearch={"retention": {"maxAge": "36500d"}}) == []


def test_a_key_with_a_line_break_is_still_one_line() -> None:
    found = problems(**{"foo\nbar": "1"})
    assert len(found) == 1 and found[0].startswith("foo\\nbar: unknown key")
    assert len(str(ConfigError(found)).splitlines()) == 2


@pytest.mark.parametrize(("wait", "seconds"), [("10s", 10), ("90s", 90), ("3m", 180), ("24h", 86400)])
def test_a_pod_ready_timeout_is_read_in_seconds(wait: str, seconds: int) -> None:
    assert valid(podReadyTimeout=wait).pod_ready_seconds == seconds


def test_an_unset_pod_ready_timeout_leaves_the_components_defaults() -> None:
    assert valid().pod_ready_seconds is None


@pytest.mark.parametrize(
    ("wait", "said"),
    [
        ("9s", "outside 10s to 24h"),
        ("25h", "outside 10s to 24h"),
        ("3", "is not a wait like 90s, 5m or 1h"),
        ("3 m", "is not a wait like"),
        ("03m", "is not a wait like"),
        ("1d", "is not a wait like"),
        ("0s", "is not a wait like"),
    ],
)
def test_a_pod_ready_timeout_outside_its_bounds_is_refused(wait: str, said: str) -> None:
    assert said in only_problem_at("podReadyTimeout", podReadyTimeout=wait)
