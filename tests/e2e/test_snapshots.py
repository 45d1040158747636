"""A snapshot before every risky change, and a restore before anything writes, on the real engine.

The qa stack with an S3 snapshot repository. Under kwok nothing runs, so the snapshot
itself is not taken here: kwok completes Job pods as soon as they run (the unit tests run
the Job's script against a fake Elasticsearch). What this shows is the engine's order: on
a version bump the new snapshot Job is created and awaited until Complete before the
engine starts updating any Elasticsearch StatefulSet. The evidence is the engine's own
event stream (`pulumi up --json`) and the cluster's objects.

A failed snapshot Job is simulated the same way kwok simulates a completed one: a kwok
stage of ours (tools/e2e/stages/snapshot-fails.yaml) fails the Job's pod for one version
reserved for that scenario; the unit tests show the script failing the Job for real reasons.
The next `pulumi up` runs a failed Job again (`pulumi.com/replaceUnready`).

The stack starts from a snapshot (`restoreFrom`): its first deploy creates Logstash and
Kibana only once the setup Job, which restores, has completed. The restore itself is the
script's, shown against the fake Elasticsearch (tests/test_restore.py).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from components.specs.kibana import KEY_VARIABLES as KIBANA_KEY_VARIABLES
from tests.e2e.conftest import (
    E2E_DIR,
    Cluster,
    Stack,
    condition,
    engine_events,
    pod_uids,
    stack_from_file,
)
from tests.e2e.test_faults import (
    SETUP_JOB_URN,
    bump_stopped_twice,
    job_begun,
)
from tests.readers import credential_files

NAMESPACE = "elk-e2e-snapshots"
NEW_VERSION = "9.4.4"
JOB_URN = "$kubernetes:batch/v1:Job::elasticsearch-snapshot"
# What writes into the cluster, and must wait for the restore on a new stack.
WRITERS = ("$kubernetes:apps/v1:StatefulSet::logstash", "$kubernetes:apps/v1:Deployment::kibana")
FIRST_DEPLOY_EVENTS = E2E_DIR / "snapshots-first-deploy-events.jsonl"
STATEFULSET_URN = "$kubernetes:apps/v1:StatefulSet::elasticsearch"
# The StatefulSets that wait for the Job: Elasticsearch, and Logstash which follows it.
STATEFULSETS = ("elk-elasticsearch", "elk-logstash")
SNAPSHOTS = {
    "repository": {
        "type": "s3",
        "bucket": "elk-backups",
        "basePath": "e2e",
        "endpoint": "minio.storage.svc:9000",
        "pathStyleAccess": True,
        "credentialsSecret": "elk-snapshot-credentials",
    },
    "restoreFrom": {"snapshot": "latest", "indices": ["logs-*"]},
}
KIBANA_KEYS_SECRET = "qa-kibana-keys"


@pytest.fixture(scope="module")
def deployed(cluster: Cluster) -> Stack:
    """The qa stack with snapshots, deployed once as the namespace's user."""
    kubeconfig = cluster.namespace(NAMESPACE)
    cluster.kubectl(
        "create",
        "secret",
        "generic",
        "elk-snapshot-credentials",
        "-n",
        NAMESPACE,
        "--from-literal=access_key=e2e-access",
        "--from-literal=secret_key=e2e-secret",
        kubeconfig=kubeconfig,
    )
    # The keys of the stack whose snapshots this one restores, as the user would copy them.
    cluster.kubectl(
        "create",
        "secret",
        "generic",
        KIBANA_KEYS_SECRET,
        "-n",
        NAMESPACE,
        *(f"--from-literal={setting}={'k' * 32}" for setting in KIBANA_KEY_VARIABLES),
        kubeconfig=kubeconfig,
    )
    stack = stack_from_file(cluster, "e2e-snapshots", "Pulumi.qa.yaml", NAMESPACE, kubeconfig)
    elasticsearch = copy.deepcopy(stack.config["elk-stack:elasticsearch"])
    elasticsearch["snapshots"] = SNAPSHOTS
    stack.set_config("elk-stack:elasticsearch", elasticsearch)
    kibana = copy.deepcopy(stack.config.get("elk-stack:kibana") or {})
    stack.set_config("elk-stack:kibana", {**kibana, "encryptionKeysSecret": KIBANA_KEYS_SECRET})
    # `up --json` streams the engine's events, one JSON object a line.
    result = stack.pulumi("up", "--yes", "--skip-preview", "--json")
    FIRST_DEPLOY_EVENTS.write_text(result.stdout)
    return stack


def snapshot_jobs(cluster: Cluster, namespace: str) -> dict[str, dict[str, Any]]:
    jobs = cluster.get_json("jobs", "-n", namespace)["items"]
    return {
        job["metadata"]["name"]: job
        for job in jobs
        if job["metadata"]["name"].startswith("elk-elasticsearch-snapshot-")
    }


def failed_jobs(cluster: Cluster, namespace: str) -> dict[str, dict[str, Any]]:
    """The snapshot Jobs that failed, by name."""
    jobs = snapshot_jobs(cluster, namespace)
    return {name: job for name, job in jobs.items() if condition(job, "Failed")}


def first_index(log: list[dict[str, Any]], kind: str, urn_suffix: str, ops: set[str]) -> int:
    """The position of the first `kind` event of a resource whose URN ends with `urn_suffix`."""
    for index, event in enumerate(log):
        metadata = (event.get(kind) or {}).get("metadata") or {}
        if metadata.get("urn", "").endswith(urn_suffix) and metadata.get("op") in ops:
            return index
    raise AssertionError(f"no {kind} for {urn_suffix} with an op in {sorted(ops)}")


@pytest.mark.claim(
    "A stack that starts from a snapshot creates Logstash and Kibana only after the setup Job, "
    "which restores it, has completed"
)
def test_a_new_stack_restores_before_anything_writes(deployed: Stack, cluster: Cluster) -> None:
    log = engine_events(FIRST_DEPLOY_EVENTS.read_text())
    setup_done = first_index(log, "resOutputsEvent", SETUP_JOB_URN, {"create"})
    for writer in WRITERS:
        starts = first_index(log, "resourcePreEvent", writer, {"create"})
        assert setup_done < starts, f"{writer} was created before the setup Job completed"
    job = cluster.get_json("job", "elk-elasticsearch-setup", "-n", deployed.namespace)
    assert condition(job, "Complete")
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["RESTORE_SNAPSHOT"] == "latest"
    assert json.loads(env["RESTORE_REQUEST"])["indices"] == "logs-*"


@pytest.mark.claim(
    "A stack restoring another's snapshot runs Kibana on the keys of the Secret the user "
    "copied (`kibana.encryptionKeysSecret`) and makes none of its own"
)
def test_kibana_reads_the_restored_stacks_keys(deployed: Stack, cluster: Cluster) -> None:
    kibana = cluster.get_json("deployment", "elk-kibana", "-n", deployed.namespace)
    files = credential_files(kibana["spec"]["template"]["spec"])
    sources = {
        ref["secretKeyRef"]["key"]: ref["secretKeyRef"]["name"]
        for name, ref in files.items()
        if name in KIBANA_KEY_VARIABLES.values()
    }
    assert sources == dict.fromkeys(KIBANA_KEY_VARIABLES, KIBANA_KEYS_SECRET)
    secrets = {s["metadata"]["name"] for s in cluster.get_json("secrets", "-n", deployed.namespace)["items"]}
    assert KIBANA_KEYS_SECRET in secrets and "elk-kibana-encryption-keys" not in secrets
    assert condition(kibana, "Available")


@pytest.mark.claim(
    "A version bump creates the snapshot Job first and updates the Elasticsearch StatefulSet "
    "only after the Job has completed"
)
def test_a_version_bump_waits_for_the_snapshot_job(deployed: Stack, cluster: Cluster) -> None:
    before = snapshot_jobs(cluster, deployed.namespace)
    assert len(before) == 1, "the first deploy runs the Job once (it finds nothing to protect)"
    [(first_name, first_job)] = before.items()
    assert condition(first_job, "Complete")
    image_before = cluster.get_json("statefulset", "elk-elasticsearch", "-n", deployed.namespace)["spec"][
        "template"
    ]["spec"]["containers"][0]["image"]
    assert image_before.endswith(":9.4.3")

    deployed.set_config("elk-stack:version", NEW_VERSION)
    # `up --json` streams the engine's events, one JSON object a line.
    result = deployed.pulumi("up", "--yes", "--skip-preview", "--json")
    (E2E_DIR / "snapshot-bump-events.jsonl").write_text(result.stdout)

    log = engine_events(result.stdout)
    created = {"create", "create-replacement", "replace"}
    job_done = first_index(log, "resOutputsEvent", JOB_URN, created)
    statefulset_starts = first_index(log, "resourcePreEvent", STATEFULSET_URN, {"update"})
    assert job_done < statefulset_starts, "the StatefulSet update began before the snapshot Job completed"

    after = snapshot_jobs(cluster, deployed.namespace)
    assert first_name not in after, "the previous change's Job is replaced"
    [(new_name, new_job)] = after.items()
    assert new_name != first_name
    assert condition(new_job, "Complete")
    env = {e["name"]: e.get("value") for e in new_job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["TARGET_VERSION"] == NEW_VERSION
    live = cluster.get_json("statefulset", "elk-elasticsearch", "-n", deployed.namespace)
    assert live["spec"]["template"]["spec"]["containers"][0]["image"].endswith(f":{NEW_VERSION}")
    deployed.pulumi("preview", "--expect-no-changes")


FAILING_VERSION = "9.9.9"


@pytest.mark.claim(
    "A failed snapshot Job stops the deploy: no Elasticsearch StatefulSet is updated and no pod restarted"
)
def test_a_failed_snapshot_leaves_the_statefulsets_untouched(deployed: Stack, cluster: Cluster) -> None:
    """kwok fails the Job's pod for this version only (tools/e2e/stages/snapshot-fails.yaml)."""
    workloads = {
        name: cluster.get_json("statefulset", name, "-n", deployed.namespace) for name in STATEFULSETS
    }
    pods = pod_uids(cluster, deployed.namespace, "elasticsearch")
    deployed.set_config("elk-stack:version", FAILING_VERSION)
    result = deployed.pulumi("up", "--yes", "--skip-preview", check=False)
    assert result.returncode != 0, "the deploy went on although the snapshot Job failed"
    output = result.stdout + result.stderr
    assert "elasticsearch-snapshot" in output, output[-3000:]
    assert len(failed_jobs(cluster, deployed.namespace)) == 1
    for name, before in workloads.items():
        after = cluster.get_json("statefulset", name, "-n", deployed.namespace)
        assert after["metadata"]["generation"] == before["metadata"]["generation"], name
        assert after["spec"]["template"] == before["spec"]["template"], name
    assert pod_uids(cluster, deployed.namespace, "elasticsearch") == pods


@pytest.mark.claim("The next pulumi up runs a failed snapshot Job again instead of waiting on it")
def test_the_next_up_runs_a_failed_job_again(deployed: Stack, cluster: Cluster) -> None:
    """Still on the failing version: kwok fails the new Job's pod too, but it is a new Job."""
    [(name, failed)] = failed_jobs(cluster, deployed.namespace).items()
    result = deployed.pulumi("up", "--yes", "--skip-preview", check=False)
    assert result.returncode != 0, "the snapshot still fails for this version"
    [(again_name, again)] = failed_jobs(cluster, deployed.namespace).items()
    assert again_name == name, "the same change, so the same Job name"
    assert again["metadata"]["uid"] != failed["metadata"]["uid"], "the failed Job was awaited, not run again"


@pytest.mark.claim(
    "A version bump interrupted with Ctrl-C (SIGINT) once the engine has begun the snapshot Job "
    "converges on the next `make up`; one killed (SIGKILL) at that point, on `make recover`. "
    "Each time: every object of the render live, no pending operation, `preview "
    "--expect-no-changes`, the StatefulSet at the new version and every claim's UID kept"
)
def test_an_update_stopped_while_the_snapshot_job_runs_converges(
    deployed: Stack, cluster: Cluster, tmp_path: Path
) -> None:
    """After the failed snapshot above: each bump makes a new snapshot Job, which kwok completes."""
    bump_stopped_twice(cluster, deployed, tmp_path, job_begun(JOB_URN))
