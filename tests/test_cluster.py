"""Multi-node Elasticsearch (issue 4): node sets, discovery, availability and volumes that grow.

Expected names are derived from the rendered objects wherever they can be (pod names from
a StatefulSet's name and replicas, seed hosts from its `serviceName`), so the tests check
that the pieces agree with each other, not that a literal was copied twice.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.configuration import ConfigError, load_config
from tests import invariants
from tests.clusters import (
    DATA,
    EXAMPLE,
    MASTER_PODS,
    MASTERS,
    MIXED_MASTERS,
    NAMESPACE,
    SIMPLE_THREE,
    START_SCRIPT,
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
from tests.conftest import FORMATION, find, flat_config
from tests.pod_security import pod_templates, restricted_violations
from tests.program.test_schema import KUBERNETES_VERSIONS, schema_errors
from tools.render import PROJECT_DIR, Rendered

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


def config_problems(elasticsearch: dict[str, Any]) -> list[str]:
    """The problem lines for an `elasticsearch` section, or [] when the config is valid."""
    raw = {k.removeprefix("elk-stack:"): v for k, v in flat_config(elasticsearch=elasticsearch).items()}
    try:
        load_config(raw, PROJECT_DIR)
    except ConfigError as error:
        return error.problems
    return []


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


# --- rendering and the cross-cutting checks ---------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("elasticsearch", [EXAMPLE, SIMPLE_THREE], ids=["node-sets", "replicas-3"])
def test_cluster_renders_schema_valid(render: Render, elasticsearch: dict[str, Any], version: str) -> None:
    assert schema_errors(render(elasticsearch=elasticsearch).manifests, version) == []


@pytest.mark.parametrize("elasticsearch", [EXAMPLE, SIMPLE_THREE], ids=["node-sets", "replicas-3"])
def test_cluster_holds_every_invariant(render: Render, elasticsearch: dict[str, Any]) -> None:
    """Heap, data volumes, protection, probes and checksums hold for every node set."""
    rendered = render(elasticsearch=elasticsearch)
    assert invariants.all_violations(rendered.manifests, rendered.resources, NAMESPACE) == []


def test_cluster_pods_meet_the_restricted_standard(render: Render) -> None:
    templates = pod_templates(render(elasticsearch=EXAMPLE).manifests)
    assert len(templates) >= 2
    assert [
        v for where, metadata, spec in templates for v in restricted_violations(spec, metadata, where)
    ] == []


# --- one StatefulSet per node set ------------------------------------------------------


def test_one_statefulset_per_node_set_with_its_replicas_and_roles(render: Render) -> None:
    rendered = render(elasticsearch=EXAMPLE)
    statefulsets = by_name(rendered)
    assert sorted(statefulsets) == ["elk-elasticsearch-data", "elk-elasticsearch-master"]
    assert statefulsets["elk-elasticsearch-master"]["spec"]["replicas"] == 3
    assert statefulsets["elk-elasticsearch-data"]["spec"]["replicas"] == 2
    master = find(rendered.manifests, "ConfigMap", "elk-elasticsearch-master-config")
    data = find(rendered.manifests, "ConfigMap", "elk-elasticsearch-data-config")
    assert yaml.safe_load(master["data"]["elasticsearch.yml"])["node.roles"] == ["master"]
    assert yaml.safe_load(data["data"]["elasticsearch.yml"])["node.roles"] == ["data", "ingest"]


def test_each_node_set_mounts_its_own_settings(render: Render) -> None:
    rendered = render(elasticsearch=EXAMPLE)
    for name, statefulset in by_name(rendered).items():
        volumes = {v["name"]: v for v in statefulset["spec"]["template"]["spec"]["volumes"]}
        assert volumes["config"]["configMap"]["name"] == f"{name}-config"


def test_node_sets_have_their_own_selectors(render: Render) -> None:
    """Overlapping selectors would make one set's Service, PDB and anti-affinity count the other's pods."""
    rendered = render(elasticsearch=EXAMPLE)
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


def test_example_initial_masters_are_the_three_master_pods(render: Render) -> None:
    rendered = render(elasticsearch=EXAMPLE)
    master = by_name(rendered)["elk-elasticsearch-master"]
    assert pod_names(master) == [f"elk-elasticsearch-master-{i}" for i in range(3)]
    assert env(master)["INITIAL_MASTER_NODES"] == ",".join(pod_names(master))
    assert "INITIAL_MASTER_NODES" not in env(by_name(rendered)["elk-elasticsearch-data"])
    for statefulset in es_statefulsets(rendered):
        assert settings(rendered, statefulset)["discovery.seed_hosts"] == [
            "elk-elasticsearch-master-headless"
        ]


def test_seed_hosts_service_finds_master_pods_before_they_are_ready(render: Render) -> None:
    """Nodes become Ready only once a cluster has formed, so discovery must see unready pods."""
    rendered = render(elasticsearch=EXAMPLE)
    master = by_name(rendered)["elk-elasticsearch-master"]
    headless = find(rendered.manifests, "Service", master["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    assert headless["spec"]["selector"] == master["spec"]["selector"]["matchLabels"]
    assert {"name": "transport", "port": 9300, "targetPort": "transport"} in headless["spec"]["ports"]


def test_one_node_forms_a_cluster_that_others_can_join(render: Render) -> None:
    """Not `discovery.type: single-node`, which refuses every other node: a one-node cluster."""
    rendered = render()
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


def test_pods_run_the_mounted_start_script(render: Render) -> None:
    """The container runs exactly the shipped script, from the ConfigMap its pods mount."""
    rendered = render(elasticsearch=EXAMPLE)
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
        probe = main["readinessProbe"]["exec"]["command"]
        assert probe[3] == marker, "the readiness probe leaves the marker once the node has joined"


# --- the start script: initial masters only on a node's first start -----------------


@pytest.fixture
def entrypoint(tmp_path: Path) -> Path:
    """A stand-in for the image's entrypoint that reports what it was started with."""
    script = tmp_path / "docker-entrypoint.sh"
    script.write_text('#!/usr/bin/env bash\necho "args: $*"\nenv | grep initial_master || true\n')
    script.chmod(0o755)
    return script


def start(
    entrypoint: Path,
    data_path: Path,
    initial_masters: str | None,
    hostname: str = "elk-elasticsearch-master-0",
) -> list[str]:
    """Run the start script as the pod would; return the lines the fake entrypoint printed.

    `initial_masters` None leaves the variable unset, as on data-only pods.
    """
    environment = {
        "PATH": os.environ["PATH"],
        "HOSTNAME": hostname,
        "ES_ENTRYPOINT": str(entrypoint),
        "FORMED_MARKER": str(data_path / ".elk-stack-cluster-formed"),
    }
    if initial_masters is not None:
        environment["INITIAL_MASTER_NODES"] = initial_masters
    result = subprocess.run(
        ["bash", str(START_SCRIPT)], env=environment, capture_output=True, text=True, check=True, timeout=30
    )
    return [line for line in result.stdout.splitlines() if line.startswith(("args:", "cluster."))]


def test_first_start_bootstraps_with_the_initial_masters(entrypoint: Path, tmp_path: Path) -> None:
    assert start(entrypoint, tmp_path, MASTER_PODS) == [
        "args: eswrapper",
        f"cluster.initial_master_nodes={MASTER_PODS}",
    ]


def test_once_the_cluster_formed_the_setting_is_never_passed_again(entrypoint: Path, tmp_path: Path) -> None:
    """Elastic warns against leaving the setting once the cluster has formed."""
    (tmp_path / ".elk-stack-cluster-formed").touch()
    assert start(entrypoint, tmp_path, MASTER_PODS) == ["args: eswrapper"]


def test_a_restart_before_the_cluster_formed_still_bootstraps(entrypoint: Path, tmp_path: Path) -> None:
    """Node metadata (`_state`) appears at the first start, before any cluster exists: not a sign."""
    (tmp_path / "_state").mkdir()
    assert start(entrypoint, tmp_path, MASTER_PODS)[1] == f"cluster.initial_master_nodes={MASTER_PODS}"


def test_data_only_pods_without_the_variable_start_plainly(entrypoint: Path, tmp_path: Path) -> None:
    assert start(entrypoint, tmp_path, None, hostname="elk-elasticsearch-data-0") == ["args: eswrapper"]


def test_no_initial_masters_configured_means_none_passed(entrypoint: Path, tmp_path: Path) -> None:
    assert start(entrypoint, tmp_path, "") == ["args: eswrapper"]


@pytest.mark.parametrize("hostname", ["elk-elasticsearch-master-1", "elk-elasticsearch-master-2"])
def test_every_initial_master_can_bootstrap(entrypoint: Path, tmp_path: Path, hostname: str) -> None:
    """Elastic's rule: the same list on every master-eligible node, so a Pending master-0 stops nothing."""
    assert start(entrypoint, tmp_path, MASTER_PODS, hostname=hostname) == [
        "args: eswrapper",
        f"cluster.initial_master_nodes={MASTER_PODS}",
    ]


@pytest.mark.parametrize("hostname", ["elk-elasticsearch-master-3", "elk-elasticsearch-master-", "master-0"])
def test_a_node_outside_the_list_never_bootstraps(entrypoint: Path, tmp_path: Path, hostname: str) -> None:
    """Nodes added later (a scale-up) must never form a second cluster among themselves."""
    assert start(entrypoint, tmp_path, MASTER_PODS, hostname=hostname) == ["args: eswrapper"]


# --- the client Service -------------------------------------------------------------


def test_client_service_skips_dedicated_masters(render: Render) -> None:
    rendered = render(elasticsearch=EXAMPLE)
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


def test_clients_reach_elasticsearch_only_through_the_client_service(render: Render) -> None:
    """Logstash, Kibana and the setup Job must survive any single node set restarting."""
    rendered = render(elasticsearch=EXAMPLE)
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


def test_one_disruption_budget_per_node_set(render: Render) -> None:
    rendered = render(elasticsearch=EXAMPLE)
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


def test_anti_affinity_is_soft_by_default(render: Render) -> None:
    for statefulset in es_statefulsets(render(elasticsearch=EXAMPLE)):
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


def test_every_ordinal_of_every_node_set_has_an_explicit_claim(render: Render) -> None:
    rendered = render(elasticsearch=EXAMPLE)
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


def test_every_data_claim_is_protected_and_retained(render: Render) -> None:
    rendered = render(elasticsearch=EXAMPLE)
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


def test_scale_down_never_deletes_a_claim(render: Render) -> None:
    for statefulset in es_statefulsets(render(elasticsearch=EXAMPLE)):
        assert statefulset["spec"]["persistentVolumeClaimRetentionPolicy"] == {
            "whenDeleted": "Retain",
            "whenScaled": "Retain",
        }


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


def test_a_new_cluster_creates_its_masters_first_then_the_data_nodes(render: Render) -> None:
    """A new cluster forms on its masters: a data set created first would never become Ready."""
    assert statefulset_dependencies(render(elasticsearch=TWO_DATA_SETS)) == {
        "elasticsearch-master": set(),
        "elasticsearch-data": {"elasticsearch-master"},
        "elasticsearch-warm": {"elasticsearch-data"},
    }


@pytest.mark.usefixtures("existing_cluster")
def test_an_existing_cluster_upgrades_its_masters_last(render: Render) -> None:
    """Elastic's rolling-upgrade order: every other set, one after another, then the masters."""
    assert statefulset_dependencies(render(elasticsearch=TWO_DATA_SETS)) == {
        "elasticsearch-data": set(),
        "elasticsearch-warm": {"elasticsearch-data"},
        "elasticsearch-master": {"elasticsearch-warm"},
    }


def test_the_formation_record_is_keyed_on_the_master_sets(render: Render) -> None:
    """New master sets are a new cluster (the inline form turned into node sets): masters first again."""
    for elasticsearch, name in [
        (TWO_DATA_SETS, "elasticsearch-formation-master"),
        (MIXED_MASTERS, "elasticsearch-formation-master-hot"),
        (SIMPLE_THREE, "elasticsearch-formation-inline"),
        ({}, "elasticsearch-formation-inline"),
    ]:
        rendered = render(elasticsearch=elasticsearch)
        assert [r["name"] for r in rendered.resources if r["type"] == FORMATION] == [name]


def test_each_node_set_rolls_one_pod_at_a_time(render: Render) -> None:
    """RollingUpdate without maxUnavailable or partition: one pod, and the next waits for Ready."""
    for statefulset in es_statefulsets(render(elasticsearch=EXAMPLE)):
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


# --- validation ---------------------------------------------------------------------


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
    """New indices need the hot and the content tier (see tests/test_config_values.py)."""
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
    assert env(statefulsets["elk-elasticsearch-data"])["ES_JAVA_OPTS"] == "-Xms2048m -Xmx2048m"
    assert env(statefulsets["elk-elasticsearch-master"])["ES_JAVA_OPTS"] == "-Xms1024m -Xmx1024m"


def test_simple_three_replicas_is_valid() -> None:
    assert config_problems(SIMPLE_THREE) == []


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


def test_a_node_set_may_not_take_the_setup_jobs_names() -> None:
    """`setup` would give the node set the setup Job's ConfigMap name."""
    elasticsearch = node_sets(MASTERS, {**DATA, "name": "setup"})
    assert [
        p for p in config_problems(elasticsearch) if p.startswith("elasticsearch.nodeSets[1].name: ")
    ] == [
        "elasticsearch.nodeSets[1].name: 'setup' is reserved for the setup Job's objects; choose another name"
    ]


def test_no_two_objects_share_a_kind_and_name(render: Render) -> None:
    rendered = render(elasticsearch=EXAMPLE, logstash={"replicas": 2}, kibana={"replicas": 2})
    keys = [(m["kind"], m["metadata"]["name"]) for m in rendered.manifests]
    assert sorted({k for k in keys if keys.count(k) > 1}) == []
