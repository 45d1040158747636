"""The topology Jobs: `leave` before a change that removes nodes, `settle` after it, in that order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.clusters import STATEFULSET
from tests.conftest import find, waited_for
from tests.readers import credential_files
from tests.snapshot_examples import NODE_SETS
from tools.render import PROJECT_DIR, Rendered

Render = Callable[..., Rendered]

JOB = "kubernetes:batch/v1:Job"
LEAVE = f"{JOB}::elasticsearch-topology-leave"
SETTLE = f"{JOB}::elasticsearch-topology-settle"
RECORD = "pulumi-python:dynamic/elk-stack-lifecycle:DeployRecord::elasticsearch-record"
ES_SETS = {"elasticsearch-master", "elasticsearch-data"}


def node_sets(masters: int = 3, data: int = 2) -> dict[str, Any]:
    return {
        "elasticsearch": {
            "nodeSets": [{**NODE_SETS[0], "replicas": masters}, {**NODE_SETS[1], "replicas": data}]
        }
    }


def topology_jobs(rendered: Rendered) -> dict[str, dict[str, Any]]:
    """The two Jobs by step (leave, settle)."""
    jobs = [
        m
        for m in rendered.manifests
        if m["kind"] == "Job" and m["metadata"]["name"].startswith("elk-elasticsearch-topology-")
    ]
    return {job["spec"]["template"]["spec"]["containers"][0]["name"]: job for job in jobs}


def env(job: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}


def resource(rendered: Rendered, key: str) -> dict[str, Any]:
    [found] = [r for r in rendered.resources if f"{r['type']}::{r['name']}" == key]
    return found


def test_the_jobs_are_named_after_the_declared_nodes(render: Render) -> None:
    """A new pair, so one run each, when a node would come or go; none for a version change."""
    first = topology_jobs(render(**node_sets()))
    again = topology_jobs(render(version="9.4.4", **node_sets()))
    shrunk = topology_jobs(render(**node_sets(masters=1)))
    names = [jobs["leave"]["metadata"]["name"] for jobs in (first, again, shrunk)]
    assert names[0] == names[1] != names[2]
    assert names[0].startswith("elk-elasticsearch-topology-leave-")
    tag = names[0].rsplit("-", 1)[1]
    assert first["settle"]["metadata"]["name"] == f"elk-elasticsearch-topology-settle-{tag}"


def test_the_jobs_know_exactly_which_nodes_the_config_declares(render: Render) -> None:
    jobs = topology_jobs(render(**node_sets(masters=1)))
    for step, job in jobs.items():
        values = env(job)
        assert values["TOPOLOGY_STEP"] == step
        assert values["DECLARED_NODES"] == (
            "^(elk-elasticsearch-master-0|elk-elasticsearch-data-0|elk-elasticsearch-data-1)$"
        )
        assert values["DECLARED_SETS"] == "^(elk-elasticsearch-master|elk-elasticsearch-data)-[0-9]+$"
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
        assert job["metadata"]["annotations"]["pulumi.com/replaceUnready"] == "true"


def test_the_jobs_reach_the_cluster_as_the_setup_job_does(render: Render) -> None:
    rendered = render(**node_sets())
    setup = env(find(rendered.manifests, "Job", "elk-elasticsearch-setup"))
    shared = ("ES_URL", "CA_CERT")
    for job in topology_jobs(rendered).values():
        assert {k: env(job)[k] for k in shared} == {k: setup[k] for k in shared}
        secrets = {
            name: ref["secretKeyRef"]["name"]
            for name, ref in credential_files(job["spec"]["template"]["spec"]).items()
        }
        assert secrets == dict.fromkeys(("SETUP_USERNAME", "SETUP_PASSWORD"), "elk-setup-credentials")
    script = find(rendered.manifests, "ConfigMap", "elk-elasticsearch-topology-config")
    assert (
        script["data"]["elasticsearch-topology.sh"]
        == (PROJECT_DIR / "scripts" / "elasticsearch-topology.sh").read_text()
    )
    policy = find(rendered.manifests, "NetworkPolicy", "elk-elasticsearch")
    http = policy["spec"]["ingress"][0]["from"]
    admitted = [peer["podSelector"]["matchLabels"].get("app.kubernetes.io/name") for peer in http]
    assert "elasticsearch-topology" in admitted


@pytest.mark.usefixtures("existing_cluster")
def test_on_an_existing_cluster_record_then_leave_then_every_statefulset_then_settle(render: Render) -> None:
    """A refused change moves no shard; no node stops before it left; exclusions clear after all rolled."""
    rendered = render(**node_sets(masters=1))
    assert RECORD in waited_for(rendered, resource(rendered, LEAVE))
    for name in ES_SETS:
        statefulset = resource(rendered, f"{STATEFULSET}::{name}")
        assert LEAVE in waited_for(rendered, statefulset)
        assert SETTLE not in waited_for(rendered, statefulset)
    settle_waits = waited_for(rendered, resource(rendered, SETTLE))
    assert {f"{STATEFULSET}::{name}" for name in ES_SETS} <= settle_waits


def test_on_a_first_deploy_no_statefulset_waits_for_the_leave_job(render: Render) -> None:
    """The Job waits for the cluster to answer; the other way round would deadlock."""
    rendered = render(**node_sets())
    for name in ES_SETS:
        assert LEAVE not in waited_for(rendered, resource(rendered, f"{STATEFULSET}::{name}"))
    assert {f"{STATEFULSET}::{name}" for name in ES_SETS} <= waited_for(rendered, resource(rendered, SETTLE))
