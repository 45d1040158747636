"""How a cluster changes: formation, the order node sets roll in, and volumes that grow.

A new cluster starts its masters and other nodes side by side; an existing one rolls its
node sets in Elastic's order, masters last; a larger volume patches its claims in place.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.clusters import (
    DATA,
    EXAMPLE,
    MASTER_PODS,
    MASTERS,
    MIXED_MASTERS,
    SIMPLE_THREE,
    STATEFULSET,
    by_name,
    container,
    env,
    es_statefulsets,
    node_sets,
    pod_names,
    record,
    settings,
)
from tests.conftest import FORMATION
from tools.render import Rendered

Render = Callable[..., Rendered]


# --- rollouts -----------------------------------------------------------------------


TWO_DATA_SETS = node_sets(MASTERS, DATA, {**DATA, "name": "warm", "roles": ["data_warm"]})


def statefulset_dependencies(rendered: Rendered) -> dict[str, set[str]]:
    """Each Elasticsearch StatefulSet's Pulumi name, and the Elasticsearch StatefulSets it waits for."""
    names = {
        r["name"]
        for r in rendered.resources
        if r["type"] == STATEFULSET and r["name"].startswith("elasticsearch")
    }
    return {
        name: {d.removeprefix(f"{STATEFULSET}::") for d in record(rendered, STATEFULSET, name)["dependsOn"]}
        & names
        for name in names
    }


def test_the_initial_masters_are_those_of_the_first_deploy(
    render: Render, existing_cluster: dict[str, str]
) -> None:
    """Masters added later are not in the list, so they can only join the cluster, never bootstrap one."""
    existing_cluster["initial_masters"] = MASTER_PODS
    rendered = render(elasticsearch=node_sets({**MASTERS, "replicas": 5}, DATA))
    master = by_name(rendered)["elk-elasticsearch-master"]
    assert len(pod_names(master)) == 5
    assert env(master)["INITIAL_MASTER_NODES"] == MASTER_PODS


def test_a_new_cluster_records_every_master_it_forms_with(render: Render) -> None:
    rendered = render(elasticsearch=node_sets({**MASTERS, "replicas": 5}, DATA))
    master = by_name(rendered)["elk-elasticsearch-master"]
    assert env(master)["INITIAL_MASTER_NODES"] == ",".join(pod_names(master))


def test_one_node_grows_to_three_without_touching_the_first(
    render: Render, existing_cluster: dict[str, str]
) -> None:
    """`replicas: 1` to 3 with `pulumi up` alone: the new nodes join pod 0's cluster, which stays as it was.

    Before, pod 0 ran `discovery.type: single-node`, refused the new nodes, and the rollout
    stalled until someone deleted it by hand. Not shown against a running Elasticsearch.
    """
    existing_cluster["initial_masters"] = "elk-elasticsearch-0"
    one, three = render(elasticsearch={"replicas": 1}), render(elasticsearch={"replicas": 3})
    [before], [after] = es_statefulsets(one), es_statefulsets(three)
    assert settings(one, before) == settings(three, after)
    assert env(before) == env(after)
    assert env(after)["INITIAL_MASTER_NODES"] == "elk-elasticsearch-0", "the new nodes never bootstrap"
    assert before["spec"]["template"]["spec"] == after["spec"]["template"]["spec"]


def test_a_new_cluster_starts_its_masters_and_its_other_nodes_side_by_side(render: Render) -> None:
    """Data nodes look for the masters until the cluster forms; within a group, one set at a time."""
    rendered = render(elasticsearch=TWO_DATA_SETS)
    assert statefulset_dependencies(rendered) == {
        "elasticsearch-master": set(),
        "elasticsearch-warm": set(),
        "elasticsearch-data": {"elasticsearch-warm"},
    }
    for name in ("elasticsearch-master", "elasticsearch-warm"):
        waited = record(rendered, STATEFULSET, name)["dependsOn"]
        assert not [d for d in waited if "topology" in d or "snapshot" in d], name


@pytest.mark.usefixtures("existing_cluster")
def test_an_existing_cluster_upgrades_its_masters_last(render: Render) -> None:
    """Elastic's rolling-upgrade order: every other set, one after another, then the masters."""
    assert statefulset_dependencies(render(elasticsearch=TWO_DATA_SETS)) == {
        "elasticsearch-warm": set(),
        "elasticsearch-data": {"elasticsearch-warm"},
        "elasticsearch-master": {"elasticsearch-data"},
    }


@pytest.mark.usefixtures("existing_cluster")
def test_tiers_roll_coldest_first_whatever_their_order_in_the_config(render: Render) -> None:
    """Frozen, cold, warm, hot (and content, and generic data), then sets in no tier, masters last."""
    sets = [
        {**DATA, "name": "ml", "roles": ["ml"]},
        {**DATA, "name": "hot", "roles": ["data_hot", "data_content", "ingest"]},
        {**DATA, "name": "frozen", "roles": ["data_frozen"]},
        {**DATA, "name": "warm", "roles": ["data_warm"]},
        {**DATA, "name": "cold", "roles": ["data_cold", "data_warm"]},
    ]
    assert statefulset_dependencies(render(elasticsearch=node_sets(MASTERS, *sets))) == {
        "elasticsearch-frozen": set(),
        "elasticsearch-cold": {"elasticsearch-frozen"},
        "elasticsearch-warm": {"elasticsearch-cold"},
        "elasticsearch-hot": {"elasticsearch-warm"},
        "elasticsearch-ml": {"elasticsearch-hot"},
        "elasticsearch-master": {"elasticsearch-ml"},
    }


def test_the_formation_record_is_keyed_on_the_master_sets(render: Render) -> None:
    """New master sets are a new cluster (the inline form turned into node sets), as the order sees it."""
    for elasticsearch, name in [
        (TWO_DATA_SETS, "elasticsearch-formation-master"),
        (MIXED_MASTERS, "elasticsearch-formation-master-hot"),
        (SIMPLE_THREE, "elasticsearch-formation-inline"),
        ({}, "elasticsearch-formation-inline"),
    ]:
        rendered = render(elasticsearch=elasticsearch)
        assert [r["name"] for r in rendered.resources if r["type"] == FORMATION] == [name]


def test_each_node_set_rolls_one_pod_at_a_time(rendered_example: Rendered) -> None:
    """RollingUpdate without maxUnavailable or partition: one pod, and the next waits for Ready."""
    for statefulset in es_statefulsets(rendered_example):
        assert statefulset["spec"]["updateStrategy"] == {"type": "RollingUpdate"}
        assert container(statefulset)["readinessProbe"]


# --- volumes grow in place ------------------------------------------------------------


GROWTH_CASES = [
    pytest.param(
        EXAMPLE,
        node_sets(MASTERS, {**DATA, "storage": {"size": "200Gi"}}),
        ["data-elk-elasticsearch-data-0", "data-elk-elasticsearch-data-1"],
        ("elk-elasticsearch-data", "elasticsearch-data"),
        id="node-set",
    ),
    pytest.param(
        {"storage": {"size": "10Gi"}},
        {"storage": {"size": "20Gi"}},
        ["data-elk-elasticsearch-0"],
        ("elk-elasticsearch", "elasticsearch"),
        id="single-node",
    ),
]


@pytest.mark.parametrize(("before", "after", "claims", "statefulset"), GROWTH_CASES)
def test_growing_a_volume_patches_only_its_claims(
    render: Render,
    before: dict[str, Any],
    after: dict[str, Any],
    claims: list[str],
    statefulset: tuple[str, str],
) -> None:
    """The immutable claim template is the StatefulSet's only change, and Pulumi ignores it."""
    old, new = render(elasticsearch=before), render(elasticsearch=after)
    old_manifests = {(m["kind"], m["metadata"]["name"]): m for m in old.manifests}
    new_manifests = {(m["kind"], m["metadata"]["name"]): m for m in new.manifests}
    assert old_manifests.keys() == new_manifests.keys()
    changed = {
        key: differences(old_manifests[key], m) for key, m in new_manifests.items() if old_manifests[key] != m
    }
    kubernetes_name, pulumi_name = statefulset
    assert sorted(changed) == sorted(
        [("StatefulSet", kubernetes_name), *(("PersistentVolumeClaim", c) for c in claims)]
    )
    for claim in claims:
        assert changed["PersistentVolumeClaim", claim] == ["spec.resources.requests.storage"]
    template_changes = changed["StatefulSet", kubernetes_name]
    assert template_changes
    assert all(under(path, "spec.volumeClaimTemplates") for path in template_changes)
    ignored = record(new, STATEFULSET, pulumi_name)["ignoreChanges"]
    assert all(any(under(path, field) for field in ignored) for path in template_changes)
    # Same resources, same URNs: an update, not a replacement.
    assert sorted((r["type"], r["name"], r["parent"]) for r in old.resources) == sorted(
        (r["type"], r["name"], r["parent"]) for r in new.resources
    )


def differences(old: Any, new: Any, path: str = "") -> list[str]:
    """The field paths (`a.b[0].c`) where two manifests differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [
            found
            for key in sorted(old.keys() | new.keys())
            for found in differences(old.get(key), new.get(key), f"{path}.{key}" if path else key)
        ]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [
            found
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            for found in differences(a, b, f"{path}[{i}]")
        ]
    return [] if old == new else [path]


def under(path: str, prefix: str) -> bool:
    """Whether a field path is `prefix` itself or inside it."""
    return prefix == "*" or path == prefix or path.startswith((f"{prefix}.", f"{prefix}["))


def test_up_waits_until_every_replica_of_a_node_set_is_updated_and_ready(render: Render) -> None:
    """The provider's own await may read the old generation's status; this wait cannot."""
    rendered = render(elasticsearch=EXAMPLE, logstash={"replicas": 2})
    statefulsets = es_statefulsets(rendered)
    waits = {
        m["metadata"]["name"]: json.loads(m["metadata"]["annotations"]["pulumi.com/waitFor"])
        for m in statefulsets
    }
    assert waits == {
        m["metadata"]["name"]: [
            f"jsonpath={{.status.updatedReplicas}}={m['spec']['replicas']}",
            f"jsonpath={{.status.readyReplicas}}={m['spec']['replicas']}",
        ]
        for m in statefulsets
    }
    assert sorted(m["spec"]["replicas"] for m in statefulsets) == [2, 3], "one per node set"
