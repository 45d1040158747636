"""The rules of node sets: a quorum of masters, a data node, safe names, no inline key beside them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from components.configuration import ConfigError, load_config
from tests.clusters import DATA, EXAMPLE, MASTERS, SIMPLE_THREE, by_name, env, node_sets
from tests.conftest import flat_config
from tools.render import PROJECT_DIR, Rendered

Render = Callable[..., Rendered]


def config_problems(elasticsearch: dict[str, Any]) -> list[str]:
    """The problem lines for an `elasticsearch` section, or [] when the config is valid."""
    raw = {k.removeprefix("elk-stack:"): v for k, v in flat_config(elasticsearch=elasticsearch).items()}
    try:
        load_config(raw, PROJECT_DIR)
    except ConfigError as error:
        return error.problems
    return []


def test_example_config_is_valid() -> None:
    assert config_problems(EXAMPLE) == []


@pytest.mark.parametrize(
    ("elasticsearch", "key"),
    [
        (node_sets({**MASTERS, "replicas": 2}, DATA), "elasticsearch.nodeSets"),
        (
            node_sets({**MASTERS, "replicas": 1}, {**DATA, "roles": ["master", "data"], "replicas": 1}),
            "elasticsearch.nodeSets",
        ),
        ({"replicas": 2}, "elasticsearch.replicas"),
    ],
    ids=["one-set", "two-sets", "simple"],
)
def test_two_master_eligible_nodes_is_an_error_that_explains_the_quorum(
    elasticsearch: dict[str, Any], key: str
) -> None:
    [problem] = config_problems(elasticsearch)
    assert problem.startswith(f"{key}: 2 master-eligible nodes")
    assert "quorum" in problem
    assert "use 1 or 3" in problem


def test_a_cluster_needs_a_master_eligible_node() -> None:
    assert config_problems(node_sets(DATA)) == [
        "elasticsearch.nodeSets: no master-eligible node: give one node set the master role"
    ]


def test_a_cluster_needs_a_data_node() -> None:
    assert config_problems(node_sets(MASTERS)) == [
        "elasticsearch.nodeSets: no data node: give one node set the data role"
    ]


def test_any_data_tier_counts_as_a_data_node() -> None:
    """New indices need the hot and the content tier (see tests/configuration/test_config_values.py)."""
    roles = ["data_hot", "data_content", "ingest"]
    assert config_problems(node_sets(MASTERS, {**DATA, "roles": roles})) == []


def test_node_set_names_are_unique() -> None:
    assert config_problems(node_sets(MASTERS, DATA, {**DATA, "replicas": 1})) == [
        "elasticsearch.nodeSets[2].name: 'data' is used by more than one node set"
    ]


@pytest.mark.parametrize("name", ["Data", "d" * 21, "data_1", "1data", "-data", "data-", "da.ta", ""])
def test_node_set_names_must_be_dns_safe_and_short(name: str) -> None:
    [problem] = config_problems(node_sets(MASTERS, {**DATA, "name": name}))
    assert problem.startswith("elasticsearch.nodeSets[1].name: ")
    assert "is not a node set name" in problem


def test_a_twenty_character_node_set_name_is_accepted(render: Render) -> None:
    """The longest name still gives pod and claim names within the 63-character label limit."""
    name = "d" * 20
    assert config_problems(node_sets(MASTERS, {**DATA, "name": name})) == []
    rendered = render(elasticsearch=node_sets(MASTERS, {**DATA, "name": name}))
    assert f"elk-elasticsearch-{name}" in by_name(rendered)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("heap", "1g"),
        ("replicas", 3),
        ("resources", {"limits": {"memory": "4Gi"}}),
        ("storage", {"size": "1Gi"}),
    ],
)
def test_node_sets_cannot_be_combined_with_an_inline_key(key: str, value: Any) -> None:
    assert config_problems({**EXAMPLE, key: value}) == [
        f"elasticsearch.{key}: cannot be combined with nodeSets; set it per node set"
    ]


def test_every_inline_key_combined_with_node_sets_is_named() -> None:
    inline = {
        "heap": "1g",
        "replicas": 3,
        "resources": {"limits": {"memory": "4Gi"}},
        "storage": {"size": "1Gi"},
    }
    assert config_problems({**EXAMPLE, **inline}) == [
        f"elasticsearch.{key}: cannot be combined with nodeSets; set it per node set"
        for key in sorted(inline)
    ]


def test_node_set_heap_over_half_the_limit_is_named() -> None:
    data = {**DATA, "heap": "1500m", "resources": {"limits": {"cpu": "1", "memory": "2Gi"}}}
    [problem] = config_problems(node_sets(MASTERS, data))
    assert problem.startswith(
        "elasticsearch.nodeSets[1].heap: 1500m is more than 50% of resources.limits.memory"
    )


def test_node_set_memory_below_a_jvm_minimum_is_named() -> None:
    masters = {**MASTERS, "resources": {"limits": {"cpu": "1", "memory": "256Mi"}}}
    [problem] = config_problems(node_sets(masters, DATA))
    assert problem.startswith("elasticsearch.nodeSets[0].resources.limits.memory: 256Mi is below")


def test_node_set_heap_defaults_to_half_its_own_limit(render: Render) -> None:
    data = {**DATA, "resources": {"limits": {"cpu": "1", "memory": "4Gi"}}}
    statefulsets = by_name(render(elasticsearch=node_sets(MASTERS, data)))
    assert env(statefulsets["elk-elasticsearch-data"])["ES_JAVA_OPTS"].split()[:2] == [
        "-Xms2048m",
        "-Xmx2048m",
    ]
    assert env(statefulsets["elk-elasticsearch-master"])["ES_JAVA_OPTS"].split()[:2] == [
        "-Xms1024m",
        "-Xmx1024m",
    ]


def test_simple_three_replicas_is_valid() -> None:
    assert config_problems(SIMPLE_THREE) == []


@pytest.mark.parametrize(
    ("name", "owner"),
    [("setup", "setup Job's"), ("snapshot", "snapshot Job's"), ("topology", "topology Jobs'")],
)
def test_a_node_set_may_not_take_a_jobs_names(name: str, owner: str) -> None:
    """`setup` would give the node set the setup Job's ConfigMap name, and so on."""
    elasticsearch = node_sets(MASTERS, {**DATA, "name": name})
    assert [
        p for p in config_problems(elasticsearch) if p.startswith("elasticsearch.nodeSets[1].name: ")
    ] == [
        f"elasticsearch.nodeSets[1].name: {name!r} is reserved for the {owner} objects; choose another name"
    ]


def test_node_processors_follow_each_sets_cpu_limit_rounded_up_or_its_own_value(render: Render) -> None:
    """Thread pools sized for the pod's CPUs, not the host's; a set without a CPU limit is left alone."""
    limited = {"requests": {"cpu": "250m"}, "limits": {"cpu": "1500m"}}
    rendered = render(
        elasticsearch=node_sets(
            {**MASTERS, "resources": limited},
            {**DATA, "resources": limited, "processors": 1},
            {"name": "warm", "roles": ["data_warm"]},
        )
    )
    processors = {name: env(sts).get("NODE_PROCESSORS") for name, sts in by_name(rendered).items()}
    assert processors == {
        "elk-elasticsearch-master": "2",
        "elk-elasticsearch-data": "1",
        "elk-elasticsearch-warm": None,
    }
    inline = by_name(render(elasticsearch={"processors": 3}))["elk-elasticsearch"]
    assert env(inline)["NODE_PROCESSORS"] == "3"


def test_node_processors_out_of_range_name_the_key() -> None:
    assert config_problems({"processors": 0}) == [
        "elasticsearch.processors: 0 is less than 1, the least it can be"
    ]
    assert config_problems(node_sets(MASTERS, {**DATA, "processors": 2000})) == [
        "elasticsearch.nodeSets[1].processors: 2000 is more than 1024, the most it can be"
    ]
    assert config_problems(node_sets(MASTERS, DATA, processors=2)) == [
        "elasticsearch.processors: cannot be combined with nodeSets; set it per node set"
    ]
