"""What a stack needs of its namespace's quotas, what it may use, and the message when it does not fit.

The refusal on a live namespace comes from the real control plane: tests/e2e/test_faults.py
runs `make up` against a quota of two pods, then deploys with the figure the message gave.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.conftest import STACKS
from tools.quota import (
    Shortfall,
    live_usage,
    our_objects,
    pod_usage,
    shortfalls,
    stack_needs,
)
from tools.render import Rendered

GI = 2**30


def container(cpu: str, memory: str, limit_cpu: str | None = None) -> dict[str, Any]:
    resources: dict[str, Any] = {"requests": {"cpu": cpu, "memory": memory}}
    if limit_cpu:
        resources["limits"] = {"cpu": limit_cpu}
    return {"name": "c", "resources": resources}


def quota(name: str, hard: dict[str, str], used: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"hard": hard}, "status": {"hard": hard, "used": used}}


def test_a_pod_counts_its_containers_sum_or_its_largest_init_container() -> None:
    spec = {
        "containers": [container("500m", "1Gi", "1"), container("250m", "1Gi")],
        "initContainers": [container("2", "512Mi")],
    }
    usage = pod_usage(spec)
    assert usage["pods"] == 1
    assert usage["requests.cpu"] == 2  # the init container's 2 CPUs exceed the containers' 750m
    assert usage["requests.memory"] == 2 * GI
    assert usage["limits.cpu"] == 1


def test_the_qa_stack_needs_its_workloads_pods_two_jobs_and_its_claims(
    rendered_stacks: dict[str, Rendered],
) -> None:
    """The setup Job and the topology `settle` Job run side by side once the node sets are Ready."""
    manifests = rendered_stacks["qa"].manifests
    needs = stack_needs(manifests)
    workloads = [m for m in manifests if m["kind"] in ("StatefulSet", "Deployment")]
    assert len([m for m in manifests if m["kind"] == "Job"]) == 3
    assert needs["pods"] == sum(m["spec"]["replicas"] for m in workloads) + 2
    claims = [m for m in manifests if m["kind"] == "PersistentVolumeClaim"]
    assert needs["persistentvolumeclaims"] == len(claims) == 2
    assert needs["ssd.storageclass.storage.k8s.io/requests.storage"] == needs["requests.storage"]
    assert needs["count/secrets"] == len([m for m in manifests if m["kind"] == "Secret"])
    assert needs["count/statefulsets.apps"] == 2


def test_every_stack_needs_at_least_its_workloads_memory(rendered_stacks: dict[str, Rendered]) -> None:
    for stack in STACKS:
        manifests = rendered_stacks[stack].manifests
        workloads = [m for m in manifests if m["kind"] in ("StatefulSet", "Deployment")]
        memory = sum(
            pod_usage(m["spec"]["template"]["spec"])["requests.memory"] * m["spec"]["replicas"]
            for m in workloads
        )
        assert stack_needs(manifests)["requests.memory"] > memory


def test_finished_pods_count_nothing_and_claims_count_their_storage() -> None:
    live = [
        {
            "kind": "Pod",
            "metadata": {"name": "a"},
            "spec": {"containers": [container("1", "1Gi")]},
            "status": {"phase": "Running"},
        },
        {
            "kind": "Pod",
            "metadata": {"name": "b"},
            "spec": {"containers": [container("1", "1Gi")]},
            "status": {"phase": "Succeeded"},
        },
        {
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "c"},
            "spec": {"resources": {"requests": {"storage": "2Gi"}}},
        },
    ]
    usage = live_usage(live)
    assert (usage["pods"], usage["requests.cpu"], usage["requests.storage"]) == (
        Decimal(1),
        Decimal(1),
        Decimal(2 * GI),
    )
    assert usage["persistentvolumeclaims"] == 1


def test_the_stacks_objects_are_those_the_render_names_and_its_pods() -> None:
    rendered = [{"kind": "Secret", "metadata": {"name": "elk-x"}}]
    live = [
        {"kind": "Secret", "metadata": {"name": "elk-x"}},
        {"kind": "Secret", "metadata": {"name": "someone-elses"}},
        {
            "kind": "Pod",
            "metadata": {"name": "elk-kibana-1", "labels": {"app.kubernetes.io/part-of": "elk-stack"}},
        },
        {"kind": "Pod", "metadata": {"name": "web-1", "labels": {"app.kubernetes.io/part-of": "shop"}}},
    ]
    assert [item["metadata"]["name"] for item in our_objects(live, rendered)] == ["elk-x", "elk-kibana-1"]


def test_what_the_stack_already_uses_is_credited_and_aliases_are_read() -> None:
    needs = stack_needs([])
    needs["pods"], needs["requests.cpu"] = Decimal(4), Decimal(2)
    ours = live_usage([])
    ours["pods"] = Decimal(3)
    fits = quota("q", {"pods": "5", "cpu": "3"}, {"pods": "4", "cpu": "1"})
    assert shortfalls([fits], needs, ours) == []
    tight = quota("q", {"pods": "5", "cpu": "2500m"}, {"pods": "4", "cpu": "1"})
    found = shortfalls([tight], needs, ours)
    assert [(f.resource, f.missing) for f in found] == [("cpu", Decimal("0.5"))]


def test_a_shortfall_reads_in_the_units_a_person_uses() -> None:
    memory = Shortfall("q", "requests.memory", Decimal(8 * GI), Decimal(GI), Decimal(0), Decimal(8 * GI))
    assert memory.describe() == (
        "ResourceQuota q: requests.memory is limited to 8Gi, 1Gi in use (0Mi of it this stack's); the stack "
        "needs 8Gi: 1Gi more. Lower the components' resources.requests.memory, or ask for a larger quota."
    )
    cpu = Shortfall("q", "requests.cpu", Decimal(1), Decimal("0.25"), Decimal(0), Decimal("1.05"))
    assert "limited to 1, 250m in use" in cpu.describe()
    assert "needs 1050m: 300m more" in cpu.describe()
