"""The snapshot Job before a change: named after the change, wired as the setup Job, waited for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.clusters import STATEFULSET
from tests.conftest import find, waited_for
from tests.readers import credential_files
from tests.snapshot_examples import NODE_SETS, S3
from tools.render import PROJECT_DIR, Rendered

Render = Callable[..., Rendered]


JOB = "kubernetes:batch/v1:Job"
SNAPSHOT_JOB = "elasticsearch-snapshot"


def snapshot_jobs(rendered: Rendered) -> list[dict[str, Any]]:
    return [
        m
        for m in rendered.manifests
        if m["kind"] == "Job" and m["metadata"]["name"].startswith("elk-elasticsearch-snapshot-")
    ]


def job_env(job: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}


def with_snapshots(
    version: str = "9.4.3", node_sets: list[dict[str, Any]] | None = None, **keys: Any
) -> dict[str, Any]:
    return {
        "version": version,
        "elasticsearch": {"nodeSets": node_sets or NODE_SETS, "snapshots": {"repository": S3, **keys}},
    }


def test_the_job_is_named_after_the_change(render: Render) -> None:
    """A new Job, so one run, per version or node set change; none for a deploy that changes neither."""
    (first,) = snapshot_jobs(render(**with_snapshots()))
    (again,) = snapshot_jobs(render(**with_snapshots()))
    (bumped,) = snapshot_jobs(render(**with_snapshots("9.4.4")))
    (removed,) = snapshot_jobs(
        render(**with_snapshots(node_sets=[{**NODE_SETS[0], "roles": ["master", "data"]}]))
    )
    names = [job["metadata"]["name"] for job in (first, again, bumped, removed)]
    assert names[0] == names[1]
    assert len({names[0], names[2], names[3]}) == 3
    env = job_env(bumped)
    assert env["TARGET_VERSION"]["value"] == "9.4.4"
    assert env["SNAPSHOT_BEFORE_CHANGE"]["value"] == f"before-9.4.4-{names[2].rsplit('-', 1)[1]}"
    assert env["NODE_NAMES"]["value"] == "^(elk-elasticsearch-master|elk-elasticsearch-data)-[0-9]+$"
    assert bumped["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":9.4.4")


def test_the_job_reaches_the_cluster_as_the_setup_job_does(render: Render) -> None:
    rendered = render(**with_snapshots())
    (job,) = snapshot_jobs(rendered)
    setup = find(rendered.manifests, "Job", "elk-elasticsearch-setup")
    shared = ("ES_URL", "ENV_FILES_DIR", "CA_CERT")
    assert {k: job_env(job)[k] for k in shared} == {k: job_env(setup)[k] for k in shared}
    assert credential_files(job["spec"]["template"]["spec"]) == credential_files(
        setup["spec"]["template"]["spec"]
    )
    ca_volume = [v for v in job["spec"]["template"]["spec"]["volumes"] if v["name"] == "elasticsearch-ca"]
    assert ca_volume == [
        v for v in setup["spec"]["template"]["spec"]["volumes"] if v["name"] == "elasticsearch-ca"
    ]
    script = find(rendered.manifests, "ConfigMap", "elk-elasticsearch-snapshot-config")
    assert script["data"] == {
        "elasticsearch-snapshot.sh": (PROJECT_DIR / "scripts" / "elasticsearch-snapshot.sh").read_text(),
        "elasticsearch-client.sh": (PROJECT_DIR / "scripts" / "lib" / "elasticsearch-client.sh").read_text(),
        "env-from-files.sh": (PROJECT_DIR / "scripts" / "env-from-files.sh").read_text(),
    }
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_the_network_policy_lets_the_job_reach_elasticsearch(render: Render) -> None:
    policy = find(render(**with_snapshots()).manifests, "NetworkPolicy", "elk-elasticsearch")
    peers = [
        peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
        for rule in policy["spec"]["ingress"]
        for peer in rule.get("from", [])
    ]
    assert "elasticsearch-snapshot" in peers


@pytest.mark.parametrize(
    "keys",
    [{"beforeUpgrade": False}, {"repository": {**S3, "readonly": True}}],
)
def test_no_job_when_turned_off_or_read_only(render: Render, keys: dict[str, Any]) -> None:
    assert snapshot_jobs(render(**with_snapshots(**keys))) == []


def test_no_job_without_snapshots(rendered_default: Rendered) -> None:
    assert snapshot_jobs(rendered_default) == []


def statefulsets_waiting_for_the_job(rendered: Rendered) -> set[str]:
    """The Elasticsearch StatefulSets that wait for the Job, directly or through what they wait for."""
    assert len([r for r in rendered.resources if r["type"] == JOB and r["name"] == SNAPSHOT_JOB]) == 1
    return {
        r["name"]
        for r in rendered.resources
        if r["type"] == STATEFULSET
        and r["name"].startswith("elasticsearch")
        and f"{JOB}::{SNAPSHOT_JOB}" in waited_for(rendered, r)
    }


@pytest.mark.usefixtures("existing_cluster")
def test_every_statefulset_of_an_existing_cluster_waits_for_the_snapshot(render: Render) -> None:
    rendered = render(
        **with_snapshots(
            "9.4.4", node_sets=[*NODE_SETS, {**NODE_SETS[1], "name": "warm", "roles": ["data_warm"]}]
        )
    )
    assert statefulsets_waiting_for_the_job(rendered) == {
        "elasticsearch-master",
        "elasticsearch-data",
        "elasticsearch-warm",
    }


@pytest.mark.usefixtures("existing_cluster")
def test_the_inline_form_waits_for_the_snapshot_too(render: Render) -> None:
    rendered = render(version="9.4.4", elasticsearch={"snapshots": {"repository": S3}})
    assert statefulsets_waiting_for_the_job(rendered) == {"elasticsearch"}


def test_a_new_cluster_does_not_wait_for_the_job_which_waits_for_it(render: Render) -> None:
    """On a first deploy the Job waits for the cluster; the other way round would deadlock."""
    assert statefulsets_waiting_for_the_job(render(**with_snapshots())) == set()


DEPLOY_RECORD = "pulumi-python:dynamic/elk-stack-lifecycle:DeployRecord"


def deploy_record(rendered: Rendered) -> dict[str, Any]:
    [record] = [r for r in rendered.resources if r["type"] == DEPLOY_RECORD]
    return record


def test_every_statefulset_waits_for_the_deploy_record(render: Render) -> None:
    """The record refuses a downgrade or a shrink in `check`; nothing that runs Elasticsearch may go first."""
    rendered = render(**with_snapshots("9.4.4"))
    record = deploy_record(rendered)
    assert record["inputs"] == {
        "version": "9.4.4",
        "masters": [f"elk-elasticsearch-master-{i}" for i in range(3)],
        "data_nodes": [f"elk-elasticsearch-data-{i}" for i in range(2)],
        "claim_sizes": {
            **{f"data-elk-elasticsearch-master-{i}": "10Gi" for i in range(3)},
            **{f"data-elk-elasticsearch-data-{i}": "10Gi" for i in range(2)},
        },
    }
    waiting = {
        r["name"]
        for r in rendered.resources
        if r["type"] == STATEFULSET and f"{DEPLOY_RECORD}::{record['name']}" in r["dependsOn"]
    }
    assert waiting >= {"elasticsearch-master", "elasticsearch-data"}
    # The data claims too: the record refuses a smaller size before the API server does.
    claims = [
        r for r in rendered.resources if r["type"].endswith("PersistentVolumeClaim") and "-data-" in r["name"]
    ]
    assert len(claims) == 5
    assert all(f"{DEPLOY_RECORD}::{record['name']}" in claim["dependsOn"] for claim in claims)


@pytest.mark.usefixtures("existing_cluster")
def test_the_deploy_record_of_an_existing_cluster_moves_only_after_the_snapshot(render: Render) -> None:
    """A change whose snapshot failed never reaches the record, so it can still be taken back."""
    record = deploy_record(render(**with_snapshots("9.4.4")))
    assert f"{JOB}::{SNAPSHOT_JOB}" in record["dependsOn"]


def test_the_deploy_record_of_a_new_cluster_does_not_wait_for_the_job(render: Render) -> None:
    record = deploy_record(render(**with_snapshots()))
    assert not any(d.endswith(f"{JOB}::{SNAPSHOT_JOB}") for d in record["dependsOn"])
