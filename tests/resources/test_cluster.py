"""Multi-node Elasticsearch: a StatefulSet per node set and what it takes to be a cluster.

Discovery, the client Service, availability and data volumes, for node sets and for the
simpler `replicas` form.

Expected names are derived from the rendered objects wherever they can be (pod names from
a StatefulSet's name and replicas, seed hosts from its `serviceName`), so the tests check
that the pieces agree with each other, not that a literal was copied twice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests import invariants
from tests.clusters import (
    DATA,
    EXAMPLE,
    MASTERS,
    MIXED_MASTERS,
    NAMESPACE,
    SIMPLE_THREE,
    START_SCRIPT,
    by_name,
    container,
    env,
    es_statefulsets,
    node_sets,
    pod_names,
    settings,
)
from tests.conftest import find
from tests.readers import without_login_files
from tools.render import Rendered

Render = Callable[..., Rendered]
Manifest = dict[str, Any]


HTTP_LABEL = "elk-stack/http"
CLIENT_APPS = ("logstash", "kibana", "elasticsearch-setup")
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
HOSTNAME = "kubernetes.io/hostname"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"


def master_eligible(rendered: Rendered, statefulset: Manifest) -> bool:
    """Whether a node set's nodes may be elected: `master` in node.roles, or no roles (all)."""
    roles = settings(rendered, statefulset).get("node.roles")
    return roles is None or "master" in roles


def pod_labels(statefulset: Manifest) -> dict[str, str]:
    labels: dict[str, str] = statefulset["spec"]["template"]["metadata"]["labels"]
    return labels


def selected_workloads(rendered: Rendered, selector: dict[str, str]) -> list[str]:
    """Names of every pod-creating object whose pods a label selector matches."""
    return sorted(
        manifest["metadata"]["name"]
        for manifest, _, template in invariants.pod_templates(rendered.manifests)
        if selector.items() <= ((template.get("metadata") or {}).get("labels") or {}).items()
    )


# --- one StatefulSet per node set ------------------------------------------------------


def test_one_statefulset_per_node_set_with_its_replicas_and_roles(rendered_example: Rendered) -> None:
    rendered = rendered_example
    statefulsets = by_name(rendered)
    assert sorted(statefulsets) == ["elk-elasticsearch-data", "elk-elasticsearch-master"]
    assert statefulsets["elk-elasticsearch-master"]["spec"]["replicas"] == 3
    assert statefulsets["elk-elasticsearch-data"]["spec"]["replicas"] == 2
    master = find(rendered.manifests, "ConfigMap", "elk-elasticsearch-master-config")
    data = find(rendered.manifests, "ConfigMap", "elk-elasticsearch-data-config")
    assert yaml.safe_load(master["data"]["elasticsearch.yml"])["node.roles"] == ["master"]
    assert yaml.safe_load(data["data"]["elasticsearch.yml"])["node.roles"] == ["data", "ingest"]


def test_each_node_set_mounts_its_own_settings(rendered_example: Rendered) -> None:
    rendered = rendered_example
    for name, statefulset in by_name(rendered).items():
        volumes = {v["name"]: v for v in statefulset["spec"]["template"]["spec"]["volumes"]}
        assert volumes["config"]["configMap"]["name"] == f"{name}-config"


def test_node_sets_have_their_own_selectors(rendered_example: Rendered) -> None:
    """Overlapping selectors would make one set's Service, PDB and anti-affinity count the other's pods."""
    rendered = rendered_example
    for name, statefulset in by_name(rendered).items():
        assert selected_workloads(rendered, statefulset["spec"]["selector"]["matchLabels"]) == [name]


# --- discovery --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "elasticsearch", [EXAMPLE, MIXED_MASTERS, SIMPLE_THREE], ids=["example", "mixed", "simple"]
)
def test_discovery_names_exactly_the_master_eligible_pods(
    render: Render, elasticsearch: dict[str, Any]
) -> None:
    """Seed hosts and initial masters come from the master-eligible StatefulSets as rendered."""
    rendered = render(elasticsearch=elasticsearch)
    statefulsets = es_statefulsets(rendered)
    masters = [s for s in statefulsets if master_eligible(rendered, s)]
    seed_hosts = [s["spec"]["serviceName"] for s in masters]
    initial_masters = [pod for s in masters for pod in pod_names(s)]
    assert len(initial_masters) in (3, 5)
    for statefulset in statefulsets:
        node_settings = settings(rendered, statefulset)
        # Order carries no meaning to Elasticsearch; multiplicity and membership do.
        assert sorted(node_settings["discovery.seed_hosts"]) == sorted(seed_hosts)
        assert "discovery.type" not in node_settings
        assert "cluster.initial_master_nodes" not in node_settings
        if statefulset in masters:
            assert sorted(env(statefulset)["INITIAL_MASTER_NODES"].split(",")) == sorted(initial_masters)
        else:
            assert "INITIAL_MASTER_NODES" not in env(statefulset), "only masters may bootstrap"


def test_example_initial_masters_are_the_three_master_pods(rendered_example: Rendered) -> None:
    rendered = rendered_example
    master = by_name(rendered)["elk-elasticsearch-master"]
    assert pod_names(master) == [f"elk-elasticsearch-master-{i}" for i in range(3)]
    assert env(master)["INITIAL_MASTER_NODES"] == ",".join(pod_names(master))
    assert "INITIAL_MASTER_NODES" not in env(by_name(rendered)["elk-elasticsearch-data"])
    for statefulset in es_statefulsets(rendered):
        assert settings(rendered, statefulset)["discovery.seed_hosts"] == [
            "elk-elasticsearch-master-headless"
        ]


def test_seed_hosts_service_finds_master_pods_before_they_are_ready(rendered_example: Rendered) -> None:
    """Nodes become Ready only once a cluster has formed, so discovery must see unready pods."""
    rendered = rendered_example
    master = by_name(rendered)["elk-elasticsearch-master"]
    headless = find(rendered.manifests, "Service", master["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    assert headless["spec"]["selector"] == master["spec"]["selector"]["matchLabels"]
    assert {"name": "transport", "port": 9300, "targetPort": "transport"} in headless["spec"]["ports"]


def test_one_node_forms_a_cluster_that_others_can_join(rendered_default: Rendered) -> None:
    """Not `discovery.type: single-node`, which refuses every other node: a one-node cluster."""
    rendered = rendered_default
    [statefulset] = es_statefulsets(rendered)
    node_settings = settings(rendered, statefulset)
    assert "discovery.type" not in node_settings
    assert node_settings["discovery.seed_hosts"] == [statefulset["spec"]["serviceName"]]
    assert "cluster.initial_master_nodes" not in node_settings
    assert "node.roles" not in node_settings
    assert env(statefulset)["INITIAL_MASTER_NODES"] == "elk-elasticsearch-0"
    assert container(statefulset)["args"] == ["bash", f"/opt/elk-stack/{START_SCRIPT.name}"]


def test_simple_three_replicas_is_one_statefulset_of_three_masters(render: Render) -> None:
    rendered = render(elasticsearch=SIMPLE_THREE)
    [statefulset] = es_statefulsets(rendered)
    assert statefulset["metadata"]["name"] == "elk-elasticsearch"
    assert statefulset["spec"]["replicas"] == 3
    assert (
        env(statefulset)["INITIAL_MASTER_NODES"]
        == "elk-elasticsearch-0,elk-elasticsearch-1,elk-elasticsearch-2"
    )
    node_settings = settings(rendered, statefulset)
    assert node_settings["discovery.seed_hosts"] == ["elk-elasticsearch-headless"]
    assert "node.roles" not in node_settings


def test_pods_run_the_mounted_start_script(rendered_example: Rendered) -> None:
    """The container runs exactly the shipped script, from the ConfigMap its pods mount."""
    rendered = rendered_example
    for name, statefulset in by_name(rendered).items():
        main = container(statefulset)
        mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
        assert main["args"] == ["bash", f"{mounts['start']}/{START_SCRIPT.name}"]
        config_map = find(rendered.manifests, "ConfigMap", f"{name}-config")
        assert config_map["data"][START_SCRIPT.name] == START_SCRIPT.read_text()
        marker = env(statefulset)["FORMED_MARKER"]
        assert (
            marker.startswith(mounts["data"] + "/")
            and mounts["data"] == settings(rendered, statefulset)["path.data"]
        )
        probe = without_login_files(main["readinessProbe"]["exec"]["command"])
        assert probe[3] == marker, "the readiness probe leaves the marker once the node has joined"


# --- the client Service -------------------------------------------------------------


def test_client_service_skips_dedicated_masters(rendered_example: Rendered) -> None:
    rendered = rendered_example
    client = find(rendered.manifests, "Service", "elk-elasticsearch")
    assert client["spec"]["selector"][HTTP_LABEL] == "true"
    statefulsets = by_name(rendered)
    assert pod_labels(statefulsets["elk-elasticsearch-data"])[HTTP_LABEL] == "true"
    assert HTTP_LABEL not in pod_labels(statefulsets["elk-elasticsearch-master"])
    assert selected_workloads(rendered, client["spec"]["selector"]) == ["elk-elasticsearch-data"]


def test_client_service_targets_every_node_without_dedicated_masters(render: Render) -> None:
    rendered = render(elasticsearch=SIMPLE_THREE)
    client = find(rendered.manifests, "Service", "elk-elasticsearch")
    assert HTTP_LABEL not in client["spec"]["selector"]
    assert HTTP_LABEL not in pod_labels(by_name(rendered)["elk-elasticsearch"])
    assert selected_workloads(rendered, client["spec"]["selector"]) == ["elk-elasticsearch"]


def test_client_service_targets_master_eligible_nodes_that_hold_data(render: Render) -> None:
    """Only dedicated masters are skipped; master+data nodes serve clients."""
    rendered = render(elasticsearch=MIXED_MASTERS)
    client = find(rendered.manifests, "Service", "elk-elasticsearch")
    assert selected_workloads(rendered, client["spec"]["selector"]) == ["elk-elasticsearch-hot"]


def test_clients_reach_elasticsearch_only_through_the_client_service(rendered_example: Rendered) -> None:
    """Logstash, Kibana and the setup Job must survive any single node set restarting."""
    rendered = rendered_example
    clients = [
        m
        for m in rendered.manifests
        if m["metadata"].get("labels", {}).get("app.kubernetes.io/name") in CLIENT_APPS
    ]
    assert {m["kind"] for m in clients} >= {"StatefulSet", "Deployment", "Job"}
    text = json.dumps(clients)
    assert set(re.findall(r"https?://[a-z0-9.-]+:9200", text)) == {
        f"https://elk-elasticsearch.{NAMESPACE}.svc:9200"
    }
    assert "elk-elasticsearch-master" not in text
    assert "elk-elasticsearch-data" not in text


# --- availability -------------------------------------------------------------------


def test_one_disruption_budget_per_node_set(rendered_example: Rendered) -> None:
    rendered = rendered_example
    budgets = [
        m
        for m in rendered.manifests
        if m["kind"] == "PodDisruptionBudget" and m["metadata"]["name"].startswith("elk-elasticsearch")
    ]
    assert sorted(b["metadata"]["name"] for b in budgets) == sorted(by_name(rendered))
    for name, statefulset in by_name(rendered).items():
        budget = find(rendered.manifests, "PodDisruptionBudget", name)
        assert budget["apiVersion"] == "policy/v1"
        assert budget["spec"] == {"maxUnavailable": 1, "selector": statefulset["spec"]["selector"]}


def term(statefulset: Manifest) -> Manifest:
    """The anti-affinity term that keeps a node set's pods apart: its own selector, per host."""
    return {"labelSelector": statefulset["spec"]["selector"], "topologyKey": HOSTNAME}


def affinity(statefulset: Manifest) -> Manifest | None:
    spread: Manifest | None = statefulset["spec"]["template"]["spec"].get("affinity")
    return spread


def test_anti_affinity_is_soft_by_default(rendered_example: Rendered) -> None:
    for statefulset in es_statefulsets(rendered_example):
        assert affinity(statefulset) == {
            "podAntiAffinity": {PREFERRED: [{"weight": 100, "podAffinityTerm": term(statefulset)}]}
        }


def test_anti_affinity_hard_is_required(render: Render) -> None:
    for statefulset in es_statefulsets(render(elasticsearch={**EXAMPLE, "antiAffinity": "hard"})):
        assert affinity(statefulset) == {"podAntiAffinity": {REQUIRED: [term(statefulset)]}}


def test_anti_affinity_none_sets_no_affinity(render: Render) -> None:
    for statefulset in es_statefulsets(render(elasticsearch={**EXAMPLE, "antiAffinity": "none"})):
        assert affinity(statefulset) is None


def test_anti_affinity_per_node_set_overrides_the_default(render: Render) -> None:
    rendered = render(elasticsearch=node_sets({**MASTERS, "antiAffinity": "none"}, DATA, antiAffinity="hard"))
    statefulsets = by_name(rendered)
    assert affinity(statefulsets["elk-elasticsearch-master"]) is None
    data = statefulsets["elk-elasticsearch-data"]
    assert affinity(data) == {"podAntiAffinity": {REQUIRED: [term(data)]}}


# --- data volumes -------------------------------------------------------------------


EXAMPLE_CLAIMS = [
    "data-elk-elasticsearch-data-0",
    "data-elk-elasticsearch-data-1",
    "data-elk-elasticsearch-master-0",
    "data-elk-elasticsearch-master-1",
    "data-elk-elasticsearch-master-2",
]


def test_every_ordinal_of_every_node_set_has_an_explicit_claim(rendered_example: Rendered) -> None:
    rendered = rendered_example
    expected = sorted(
        f"{template['metadata']['name']}-{pod}"
        for statefulset in es_statefulsets(rendered)
        for template in statefulset["spec"]["volumeClaimTemplates"]
        for pod in pod_names(statefulset)
    )
    assert expected == EXAMPLE_CLAIMS
    claims = {
        m["metadata"]["name"]: m
        for m in rendered.manifests
        if m["kind"] == "PersistentVolumeClaim" and m["metadata"]["name"].startswith("data-")
    }
    assert sorted(claims) == expected
    sizes = {
        statefulset["metadata"]["name"]: {
            claims[f"data-{pod}"]["spec"]["resources"]["requests"]["storage"]
            for pod in pod_names(statefulset)
        }
        for statefulset in es_statefulsets(rendered)
    }
    assert sizes == {"elk-elasticsearch-master": {"5Gi"}, "elk-elasticsearch-data": {"100Gi"}}


def test_every_data_claim_is_protected_and_retained(rendered_example: Rendered) -> None:
    rendered = rendered_example
    records = [
        r for r in rendered.resources if r["type"] == PVC and "ElasticsearchNode" in (r["parent"] or "")
    ]
    assert sorted(r["name"] for r in records) == [
        "elasticsearch-data-data-0",
        "elasticsearch-data-data-1",
        "elasticsearch-master-data-0",
        "elasticsearch-master-data-1",
        "elasticsearch-master-data-2",
    ]
    assert [(r["name"], r["protect"], r["retainOnDelete"]) for r in records] == [
        (r["name"], True, True) for r in records
    ]


def test_scale_down_never_deletes_a_claim(rendered_example: Rendered) -> None:
    for statefulset in es_statefulsets(rendered_example):
        assert statefulset["spec"]["persistentVolumeClaimRetentionPolicy"] == {
            "whenDeleted": "Retain",
            "whenScaled": "Retain",
        }


# --- the shipped single-node stacks ---------------------------------------------------


@pytest.mark.parametrize("stack", ["qa", "test"])
def test_single_node_stacks_render_as_before(rendered_stacks: dict[str, Rendered], stack: str) -> None:
    rendered = rendered_stacks[stack]
    [statefulset] = es_statefulsets(rendered)
    assert statefulset["metadata"]["name"] == "elk-elasticsearch"
    claims = [
        m["metadata"]["name"]
        for m in rendered.manifests
        if m["kind"] == "PersistentVolumeClaim" and m["metadata"]["name"].startswith("data-")
    ]
    assert claims == ["data-elk-elasticsearch-0"]
    assert settings(rendered, statefulset)["discovery.seed_hosts"] == ["elk-elasticsearch-headless"]


# --- found while writing these tests, now fixed --------------------------------------


@pytest.mark.parametrize("elasticsearch", [EXAMPLE, {}], ids=["node-sets", "single-node"])
def test_settings_files_use_no_yaml_anchors(render: Render, elasticsearch: dict[str, Any]) -> None:
    """Elasticsearch's YAML reader takes `*id001` for a file name, so no alias may appear."""
    rendered = render(elasticsearch=elasticsearch)
    config_maps = [m for m in rendered.manifests if m["kind"] == "ConfigMap"]
    texts = [text for m in config_maps for key, text in m["data"].items() if key.endswith(".yml")]
    assert len(texts) >= 3
    for text in texts:
        events = list(yaml.parse(text))
        assert [e for e in events if isinstance(e, yaml.AliasEvent) or getattr(e, "anchor", None)] == []


def test_no_two_objects_share_a_kind_and_name(render: Render) -> None:
    rendered = render(elasticsearch=EXAMPLE, logstash={"replicas": 2}, kibana={"replicas": 2})
    keys = [(m["kind"], m["metadata"]["name"]) for m in rendered.manifests]
    assert sorted({k for k in keys if keys.count(k) > 1}) == []
