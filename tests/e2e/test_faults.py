"""Faults on the real engine: a pod that can never start fails `make up` in bounded time, explained.

Each scenario deploys into its own namespace as that namespace's user and runs what
`make up` runs (tools/up.py), then asserts on the message the user reads, how long it took,
and that the documented way on converges with nothing left behind.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import PROJECT_DIR, Cluster, Stack, claims, stack_from_file

UNKNOWN_CLASS = "no-such-class"
KNOWN_CLASS = "ssd"
WAIT_SECONDS = 30
# The engine's start, the resources before the StatefulSet, and kubectl's reads: well
# under a minute on the local control plane; the provider's own default would be 10 minutes.
OVERHEAD_SECONDS = 60


def make_up(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """What `make up STACK=<stack> ARGS=...` runs (tools/up.py), in the stack's project."""
    command = [sys.executable, "-m", "tools.up", stack.name, "--cwd", str(stack.project)]
    flags = ["--yes", "--skip-preview", "--non-interactive", "--color", "never", *args]
    return subprocess.run(
        [*command, *flags],
        cwd=PROJECT_DIR,
        env=stack.env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def run_printed_commands(stack: Stack, message: str) -> None:
    """Run the `pulumi state` and `kubectl` lines the message tells the user to run, as printed."""
    commands = [line.strip() for line in message.splitlines() if line.startswith("  kubectl ")]
    assert commands, message
    assert message.rstrip().endswith(f"  make up STACK={stack.name} ARGS=--refresh"), message
    for command in commands:
        done = subprocess.run(
            shlex.split(command),
            cwd=stack.project,
            env=stack.env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"{command}:\n{done.stdout}{done.stderr}"


@pytest.mark.claim(
    "An unknown storage class: `make up` fails after `podReadyTimeout` (30 s), not the provider's "
    "10 minutes, naming the claim, the API's reason and the storage class keys; with the class "
    "fixed, it prints the commands that make the empty claims anew, and after them `up` converges"
)
def test_an_unknown_storage_class_is_named_within_the_wait(cluster: Cluster) -> None:
    namespace = "elk-e2e-fault-class"
    stack = stack_from_file(
        cluster,
        "e2e-fault-class",
        "Pulumi.qa.yaml",
        namespace,
        cluster.namespace(namespace),
        **{"elk-stack:storageClass": UNKNOWN_CLASS, "elk-stack:podReadyTimeout": f"{WAIT_SECONDS}s"},
    )
    start = time.monotonic()
    failed = make_up(stack)
    elapsed = time.monotonic() - start

    assert failed.returncode != 0
    assert WAIT_SECONDS <= elapsed < WAIT_SECONDS + OVERHEAD_SECONDS, elapsed
    assert "make up: StatefulSet elk-elasticsearch did not become Ready" in failed.stderr
    reason = f'ProvisioningFailed: storageclass.storage.k8s.io "{UNKNOWN_CLASS}" not found'
    assert f"PersistentVolumeClaim data-elk-elasticsearch-0: {reason}" in failed.stderr
    assert "most likely at fault: elasticsearch.storage.storageClass" in failed.stderr
    assert "or the top-level storageClass: no StorageClass has that name" in failed.stderr

    stack.set_config("elk-stack:storageClass", KNOWN_CLASS)
    refused = make_up(stack)
    assert refused.returncode != 0
    assert "claims must be made anew (a claim's storage class cannot change)" in refused.stderr
    assert "They are Pending: they never had a volume" in refused.stderr
    run_printed_commands(stack, refused.stderr)

    converged = make_up(stack, "--refresh")
    assert converged.returncode == 0, converged.stdout[-3000:] + converged.stderr
    live = cluster.get_json("pvc", "-n", namespace)["items"]
    assert {item["metadata"]["name"]: item["spec"]["storageClassName"] for item in live} == {
        "data-elk-elasticsearch-0": KNOWN_CLASS,
        "queue-elk-logstash-0": KNOWN_CLASS,
    }
    assert all(volume for _, volume, _ in claims(cluster, namespace).values())
    protected = [resource for resource in stack.state()["deployment"]["resources"] if resource.get("protect")]
    assert len(protected) == 2
    stack.pulumi("preview", "--expect-no-changes")


@pytest.mark.claim(
    "A quota too small for the stack: `make up` refuses before deploying anything, naming the "
    "ResourceQuota, the resource, the amounts and the keys to lower; with the quota raised to "
    "exactly what it said the stack needs, the next `make up` deploys"
)
def test_a_quota_too_small_is_refused_before_anything_is_deployed(cluster: Cluster) -> None:
    namespace = "elk-e2e-fault-quota"
    stack = stack_from_file(
        cluster, "e2e-fault-quota", "Pulumi.qa.yaml", namespace, cluster.namespace(namespace, "pods=2")
    )
    refused = make_up(stack)

    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        "make up: the stack does not fit the namespace's quota or limits; nothing was deployed:",
        "  ResourceQuota namespace-quota: pods is limited to 2, 0 in use (0 of it this stack's); the stack "
        "needs 4: 2 more. Lower the components' replicas, or ask for a larger quota.",
    ]
    kinds = "configmaps,secrets,services,statefulsets,deployments,jobs,persistentvolumeclaims,pods"
    left = {item["metadata"]["name"] for item in cluster.get_json(kinds, "-n", namespace)["items"]}
    assert left <= {"kube-root-ca.crt"}, left  # the API server's own ConfigMap in every namespace

    # Three workloads' pods and one Job's at a time: the figure the message gave.
    cluster.kubectl(
        "patch",
        "resourcequota",
        "namespace-quota",
        "-n",
        namespace,
        "--type=merge",
        "--patch",
        '{"spec": {"hard": {"pods": "4"}}}',
    )
    deployed = make_up(stack)
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr
    stack.pulumi("preview", "--expect-no-changes")


@pytest.mark.claim(
    "A pod that runs but never turns Ready (kwok, for the reserved CPU request 333m, "
    "`tools/e2e/stages/never-ready.yaml`): `make up` fails after `podReadyTimeout`, naming the pod, "
    "its condition and the command that shows its log; with the request changed the next `up` "
    "converges, the claim's UID unchanged"
)
def test_a_pod_that_never_turns_ready_is_named_within_the_wait(cluster: Cluster) -> None:
    namespace = "elk-e2e-fault-unready"
    stack = stack_from_file(
        cluster,
        "e2e-fault-unready",
        "Pulumi.qa.yaml",
        namespace,
        cluster.namespace(namespace),
        **{"elk-stack:podReadyTimeout": f"{WAIT_SECONDS}s"},
    )
    elasticsearch = dict(stack.config["elk-stack:elasticsearch"])
    elasticsearch["resources"] = {**elasticsearch["resources"], "requests": {"cpu": "333m", "memory": "4Gi"}}
    stack.set_config("elk-stack:elasticsearch", elasticsearch)
    failed = make_up(stack)

    assert failed.returncode != 0
    assert (
        "  Pod elk-elasticsearch-0: Running, not Ready: ContainersNotReady: containers with unready status"
        in failed.stderr
    ), failed.stderr
    assert "most likely at fault: podReadyTimeout" in failed.stderr
    assert f"its log says why: kubectl logs --namespace {namespace} elk-elasticsearch-0" in failed.stderr
    before = claims(cluster, namespace)

    elasticsearch["resources"]["requests"] = {"cpu": "500m", "memory": "4Gi"}
    stack.set_config("elk-stack:elasticsearch", elasticsearch)
    converged = make_up(stack)
    assert converged.returncode == 0, converged.stdout[-3000:] + converged.stderr
    assert {name: uid for name, (uid, _, _) in claims(cluster, namespace).items()} == {
        name: uid for name, (uid, _, _) in before.items()
    }
    stack.pulumi("preview", "--expect-no-changes")


@pytest.mark.claim(
    "A LimitRange whose maximum is below a limit: `make up` refuses before deploying anything, "
    "naming the LimitRange, the container, both quantities and the key; with the limit lowered the "
    "next `make up` deploys"
)
def test_a_limit_range_maximum_is_named_before_anything_is_deployed(cluster: Cluster, tmp_path: Path) -> None:
    namespace = "elk-e2e-fault-limits"
    stack = stack_from_file(
        cluster, "e2e-fault-limits", "Pulumi.qa.yaml", namespace, cluster.namespace(namespace)
    )
    limit_range = {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "at-most-one-cpu", "namespace": namespace},
        "spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}}]},
    }
    (tmp_path / "limit-range.json").write_text(json.dumps(limit_range))
    cluster.kubectl("create", "-f", str(tmp_path / "limit-range.json"))
    refused = make_up(stack)

    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        "make up: the stack does not fit the namespace's quota or limits; nothing was deployed:",
        "  LimitRange at-most-one-cpu: StatefulSet elk-elasticsearch, container elasticsearch: limits.cpu 2 "
        "is above the maximum 1 (change elasticsearch.resources)",
    ]
    assert stack.state()["deployment"].get("resources") is None

    elasticsearch = dict(stack.config["elk-stack:elasticsearch"])
    elasticsearch["resources"] = {**elasticsearch["resources"], "limits": {"cpu": "1", "memory": "4Gi"}}
    stack.set_config("elk-stack:elasticsearch", elasticsearch)
    deployed = make_up(stack)
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr
