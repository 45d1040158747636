"""Size on the real engine: scale-out to node sets, the large cluster, and two stacks side by side."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests import network_flows
from tests.e2e.conftest import (
    Cluster,
    Stack,
    claims,
    condition,
    is_job_pod,
    is_program_resource,
    name,
    object_uids,
    pod_uids,
    record_figure,
    resource_type,
    stack_from_file,
    uids,
    wait_until,
)

# Sized from the large stack's render: 29 pods asking for 42.8 CPUs, 173Gi of memory and
# 26 claims of 2021Gi in all; the LimitRange's defaults cover the rest.
LARGE_QUOTA = (
    "requests.cpu=48",
    "limits.cpu=96",
    "requests.memory=192Gi",
    "limits.memory=192Gi",
    "requests.storage=2100Gi",
    "persistentvolumeclaims=30",
    "pods=40",
)
NODE_SETS = {
    "nodeSets": [
        {
            "name": "master",
            "replicas": 3,
            "roles": ["master"],
            "resources": {
                "requests": {"cpu": "500m", "memory": "2Gi"},
                "limits": {"cpu": "1", "memory": "2Gi"},
            },
            "storage": {"size": "5Gi"},
        },
        {
            "name": "data",
            "replicas": 2,
            "roles": ["data", "ingest"],
            "resources": {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
            "storage": {"size": "20Gi"},
        },
    ],
    "retention": {"maxAge": "14d", "rolloverSize": "10gb"},
}


def all_ready(cluster: Cluster, stack: Stack) -> list[str]:
    """Names of the stack's pods that are not Ready (Job pods aside)."""
    pods = cluster.get_json("pods", "-n", stack.namespace)["items"]
    return [name(pod) for pod in pods if not is_job_pod(pod) and not condition(pod, "Ready")]


def unprotect_claims(stack: Stack) -> list[str]:
    """docs/operations.md's step before a destroy: `pulumi state unprotect` each claim's URN."""
    urns = [
        resource["urn"]
        for resource in stack.state()["deployment"]["resources"]
        if resource["type"] == "kubernetes:core/v1:PersistentVolumeClaim" and resource.get("protect")
    ]
    for urn in urns:
        stack.pulumi("state", "unprotect", urn, "--yes")
    return urns


@pytest.mark.claim(
    "Node sets: from qa's single node to 3 dedicated masters and 2 data nodes, every pod "
    "Ready, and the single node's data claim kept, bound to its volume; a warm node set "
    "added and then removed: `preview` says it is drained, the topology `leave` Job is done "
    "before its StatefulSet is deleted, and its claim stays"
)
def test_scale_out_from_one_node_to_node_sets(cluster: Cluster) -> None:
    namespace = "elk-e2e-scale"
    stack = stack_from_file(cluster, "e2e-scale", "Pulumi.qa.yaml", namespace, cluster.namespace(namespace))
    stack.pulumi("up", "--yes", "--skip-preview")
    original = claims(cluster, namespace)["data-elk-elasticsearch-0"]
    assert original[1], "the single node's claim is bound"

    stack.set_config("elk-stack:elasticsearch", NODE_SETS)
    refused = stack.pulumi("preview", check=False)
    assert refused.returncode != 0
    assert "protect" in refused.stdout + refused.stderr, "the dropped claim is protected"
    assert claims(cluster, namespace)["data-elk-elasticsearch-0"] == original

    # docs/elasticsearch.md, "Availability and rollouts": unprotect the claims you let go, then `pulumi up`.
    dropped = [
        resource["urn"]
        for resource in stack.state()["deployment"]["resources"]
        if resource["urn"].endswith("PersistentVolumeClaim::elasticsearch-data-0")
    ]
    assert len(dropped) == 1
    stack.pulumi("state", "unprotect", dropped[0], "--yes")
    stack.pulumi("up", "--yes", "--skip-preview")

    wait_until(lambda: all_ready(cluster, stack) == [], "every pod Ready")
    statefulsets = uids(cluster, "statefulsets", namespace)
    assert {"elk-elasticsearch-master", "elk-elasticsearch-data", "elk-logstash"} == set(statefulsets)
    pods = pod_uids(cluster, namespace, "elasticsearch")
    assert len(pods) == 5, pods
    now = claims(cluster, namespace)
    assert now["data-elk-elasticsearch-0"] == original, "the single node's claim stays, on its volume"
    assert all(now[f"data-elk-elasticsearch-master-{i}"][1] for i in range(3))
    assert all(now[f"data-elk-elasticsearch-data-{i}"][1] for i in range(2))
    stack.pulumi("preview", "--expect-no-changes")
    assert_node_set_removal_drains_first(stack, cluster, namespace)


def assert_node_set_removal_drains_first(stack: Stack, cluster: Cluster, namespace: str) -> None:
    """A warm set added, then removed: the leave Job is done before its StatefulSet is deleted."""
    warm = {"name": "warm", "replicas": 1, "roles": ["data_warm"]}
    stack.set_config("elk-stack:elasticsearch", {**NODE_SETS, "nodeSets": [*NODE_SETS["nodeSets"], warm]})
    stack.pulumi("up", "--yes", "--skip-preview")
    stack.set_config("elk-stack:elasticsearch", NODE_SETS)
    for resource in stack.state()["deployment"]["resources"]:
        if resource["urn"].endswith("PersistentVolumeClaim::elasticsearch-warm-data-0"):
            stack.pulumi("state", "unprotect", resource["urn"], "--yes")
    previewed = stack.pulumi("preview").stdout
    assert "elk-stack plan: drains elk-elasticsearch-warm-0 (the topology leave Job" in previewed, previewed
    steps = step_order(stack.pulumi("up", "--yes", "--skip-preview", "--json").stdout)
    removed = next(
        i
        for i, (phase, op, name) in enumerate(steps)
        if phase == "start" and op == "delete" and name == f"{STATEFULSET}::elasticsearch-warm"
    )
    assert created(steps, "done", f"{TOPOLOGY_JOB}leave") < removed, "drained before it is deleted"
    assert "elk-elasticsearch-warm" not in uids(cluster, "statefulsets", namespace)
    assert claims(cluster, namespace)["data-elk-elasticsearch-warm-0"][1], "its claim stays, bound"
    stack.pulumi("preview", "--expect-no-changes")


STATEFULSET = "kubernetes:apps/v1:StatefulSet"


def step_order(events: str) -> list[tuple[str, str, str]]:
    """(start or done, operation, `type::name`) of each resource step, from `pulumi up --json`'s events."""
    steps = []
    for line in events.splitlines():
        event = json.loads(line) if line.startswith("{") else {}
        for kind, phase in (("resourcePreEvent", "start"), ("resOutputsEvent", "done")):
            if kind in event:
                metadata = event[kind]["metadata"]
                urn = metadata["urn"]
                steps.append((phase, metadata["op"], f"{resource_type(urn)}::{urn.split('::')[-1]}"))
    return steps


def position(steps: list[tuple[str, str, str]], phase: str, name: str) -> int:
    """Where the first `phase` event of a resource's non-`same` step is (`name` is `type::name`)."""
    return next(i for i, (p, op, n) in enumerate(steps) if p == phase and n == name and op != "same")


@pytest.mark.claim(
    "The large cluster (3 masters, 20 data nodes, 3 Logstash, 2 Kibana) deploys within a "
    "namespace quota sized for it, and a version bump completes in one `pulumi up` in "
    "Elastic's order: the 20 data nodes, then the masters, then Logstash and Kibana "
    "(kwok makes pods Ready at once: this shows the order and that the scaled timeouts are "
    "accepted, not that they are long enough); 3 → 1 masters and 20 → 17 data nodes in one "
    "step are told in plain words by `preview`, then run the topology `leave` Job before "
    "any Elasticsearch StatefulSet changes and "
    "the `settle` Job after both rolled, every claim of a removed node kept (kwok completes "
    "the Jobs without running them: the exclusions and the drain are shown on real "
    "Elasticsearch, tests/real/test_cluster.py)"
)
def test_the_large_cluster_deploys_within_its_quota(cluster: Cluster) -> None:
    namespace = "elk-e2e-large"
    kubeconfig = cluster.namespace(namespace, *LARGE_QUOTA)
    stack = stack_from_file(cluster, "e2e-large", "benchmarks/large.yaml", namespace, kubeconfig)
    stack.pulumi("up", "--yes", "--skip-preview")
    assert all_ready(cluster, stack) == []
    assert len(pod_uids(cluster, namespace, "elasticsearch")) == 23
    assert len(claims(cluster, namespace)) == 26
    quota = cluster.get_json("resourcequota", "-n", namespace)["items"][0]["status"]
    assert quota["used"]["persistentvolumeclaims"] == "26"
    resources = [r for r in stack.state()["deployment"]["resources"] if is_program_resource(r)]
    record_figure(f"large: pulumi up {stack.timings['up']:.1f} s, {len(resources)} resources")

    timeouts = {
        r["urn"].split("::")[-1]: r.get("customTimeouts")
        for r in resources
        if resource_type(r["urn"]) == "kubernetes:apps/v1:StatefulSet"
    }
    # 20 nodes x 10 minutes, which the engine stores in seconds.
    data_timeouts = timeouts["elasticsearch-data"] or {}
    assert (data_timeouts.get("create"), data_timeouts.get("update")) == (12000, 12000), timeouts

    stack.set_config("elk-stack:version", "9.4.4")
    # With --json, `pulumi up` prints the engine's events, one JSON object a line, in order.
    steps = step_order(stack.pulumi("up", "--yes", "--skip-preview", "--json").stdout)
    data_done = position(steps, "done", f"{STATEFULSET}::elasticsearch-data")
    assert data_done < position(steps, "start", f"{STATEFULSET}::elasticsearch-master"), (
        "masters upgrade last"
    )
    master_done = position(steps, "done", f"{STATEFULSET}::elasticsearch-master")
    for follower in (f"{STATEFULSET}::logstash", "kubernetes:apps/v1:Deployment::kibana"):
        assert master_done < position(steps, "start", follower), f"{follower} follows Elasticsearch"
    pods = [pod for pod in cluster.get_json("pods", "-n", namespace)["items"] if not is_job_pod(pod)]
    images = {container["image"] for pod in pods for container in pod["spec"]["containers"]}
    stale = {
        pod["metadata"]["name"]: {
            "images": [container["image"] for container in pod["spec"]["containers"]],
            "owners": [owner["kind"] for owner in pod["metadata"].get("ownerReferences", [])],
            "deleting": pod["metadata"].get("deletionTimestamp"),
            "phase": pod["status"].get("phase"),
        }
        for pod in pods
        if not all(container["image"].endswith(":9.4.4") for container in pod["spec"]["containers"])
    }
    # A failure names the pods, so a race shows which object kept the old version.
    assert images and not stale, stale
    stack.pulumi("preview", "--expect-no-changes")
    assert_shrink_leaves_first(stack, cluster, namespace)


TOPOLOGY_JOB = "kubernetes:batch/v1:Job::elasticsearch-topology-"
CREATED = ("create", "create-replacement")


def created(steps: list[tuple[str, str, str]], phase: str, name: str) -> int:
    """Where the `phase` event of a resource's creation (or its replacement's) is."""
    return next(i for i, (p, op, n) in enumerate(steps) if p == phase and n == name and op in CREATED)


def assert_shrink_leaves_first(stack: Stack, cluster: Cluster, namespace: str) -> None:
    """3 → 1 masters and 20 → 17 data nodes in one step: leave, both StatefulSets, then settle."""
    shrunk = copy.deepcopy(stack.config["elk-stack:elasticsearch"])
    for node_set in shrunk["nodeSets"]:
        node_set["replicas"] = {"master": 1, "data": 17}[node_set["name"]]
    stack.set_config("elk-stack:elasticsearch", shrunk)
    # docs/elasticsearch.md: the claims let go are unprotected first (retained all the same).
    leaving_claims = [f"elasticsearch-master-data-{i}" for i in (1, 2)]
    leaving_claims += [f"elasticsearch-data-data-{i}" for i in (17, 18, 19)]
    for resource in stack.state()["deployment"]["resources"]:
        if resource["urn"].split("::")[-1] in leaving_claims:
            stack.pulumi("state", "unprotect", resource["urn"], "--yes")
    previewed = stack.pulumi("preview").stdout
    leaving = ", ".join(f"elk-elasticsearch-data-{i}" for i in (17, 18, 19))
    assert f"elk-stack plan: drains {leaving} (the topology leave Job" in previewed, previewed[-3000:]
    assert "elk-stack plan: excludes elk-elasticsearch-master-1, elk-elasticsearch-master-2 from voting" in (
        previewed
    )
    steps = step_order(stack.pulumi("up", "--yes", "--skip-preview", "--json").stdout)
    left = created(steps, "done", f"{TOPOLOGY_JOB}leave")
    settling = created(steps, "start", f"{TOPOLOGY_JOB}settle")
    for node_set in ("elasticsearch-data", "elasticsearch-master"):
        statefulset = f"{STATEFULSET}::{node_set}"
        assert left < position(steps, "start", statefulset), f"{node_set} waits for the leave Job"
        assert position(steps, "done", statefulset) < settling, f"settle waits for {node_set}"
    assert len(pod_uids(cluster, namespace, "elasticsearch")) == 18
    assert len(claims(cluster, namespace)) == 26, "the removed nodes' claims stay"
    stack.pulumi("preview", "--expect-no-changes")


def _namespaces_matching(cluster: Cluster, selector: dict[str, Any] | None, own: str) -> list[str]:
    """The namespaces a NetworkPolicy peer admits from: its own without a namespaceSelector."""
    if selector is None:
        return [own]
    labels = ",".join(f"{k}={v}" for k, v in selector.get("matchLabels", {}).items())
    found = cluster.get_json("namespaces", *(["-l", labels] if labels else []))["items"]
    return [name(item) for item in found]


LIVE_KINDS = {
    "NetworkPolicy": "networkpolicies",
    "StatefulSet": "statefulsets",
    "Deployment": "deployments",
    "Job": "jobs",
}


@pytest.mark.claim(
    "Two stacks side by side: qa and test in two namespaces select and admit nothing of "
    "each other, and destroying one leaves the other untouched; the NetworkPolicies as the "
    "API server stored them let out every flow each stack needs (DNS, 9200 from every "
    "client, 9300 between nodes) and no other (kwok enforces no policy: the rules are "
    "evaluated, not the traffic)"
)
def test_two_stacks_side_by_side(cluster: Cluster) -> None:
    stacks = {}
    for stack_name, stack_file in (("e2e-side-qa", "Pulumi.qa.yaml"), ("e2e-side-test", "Pulumi.test.yaml")):
        namespace = f"elk-{stack_name}"
        stack = stack_from_file(cluster, stack_name, stack_file, namespace, cluster.namespace(namespace))
        stack.pulumi("up", "--yes", "--skip-preview")
        stacks[stack_name] = stack
    qa, test = stacks["e2e-side-qa"], stacks["e2e-side-test"]

    for own, other in ((qa, test), (test, qa)):
        for service in cluster.get_json("services", "-n", own.namespace)["items"]:
            endpoints = cluster.get_json(
                "endpointslices", "-n", own.namespace, "-l", f"kubernetes.io/service-name={name(service)}"
            )["items"]
            targets = [
                address.get("targetRef", {})
                for endpoint_slice in endpoints
                for address in endpoint_slice.get("endpoints") or []
            ]
            assert targets, f"Service {name(service)} selects no pod"
            assert {t.get("namespace") for t in targets} == {own.namespace}, name(service)
        # A policy's podSelector picks pods of its own namespace only; what could cross over
        # is a peer whose namespaceSelector admits the other stack's namespace.
        for policy in cluster.get_json("networkpolicies", "-n", own.namespace)["items"]:
            peers = [p for rule in policy["spec"].get("ingress", []) for p in rule.get("from", [])]
            peers += [p for rule in policy["spec"].get("egress", []) for p in rule.get("to", [])]
            for peer in peers:
                admitted = _namespaces_matching(cluster, peer.get("namespaceSelector"), own.namespace)
                assert other.namespace not in admitted, (name(policy), peer)
        # As the API server stored them: every flow the stack needs let out, and no other.
        live = [
            {**item, "kind": kind}
            for kind, resource in LIVE_KINDS.items()
            for item in cluster.get_json(resource, "-n", own.namespace)["items"]
        ]
        assert network_flows.flow_violations(live) == [], own.namespace

    qa_before = object_uids(cluster, qa.namespace)
    qa_pods = {c: pod_uids(cluster, qa.namespace, c) for c in ("elasticsearch", "logstash", "kibana")}
    unprotect_claims(test)
    test.pulumi("destroy", "--yes")
    wait_until(lambda: not uids(cluster, "pods", test.namespace), "the test stack's pods to be gone")
    left = object_uids(cluster, test.namespace)
    assert {key.split("/")[0] for key in left} <= {"persistentvolumeclaims"}, left
    assert object_uids(cluster, qa.namespace) == qa_before
    assert {c: pod_uids(cluster, qa.namespace, c) for c in qa_pods} == qa_pods
    qa.pulumi("preview", "--expect-no-changes")
    record_figure(
        "side by side: "
        + json.dumps({s.name: round(s.timings["up"], 1) for s in stacks.values()})
        + " s for pulumi up"
    )
