"""Faults on the real engine: what goes wrong ends in a clear message, and the next step converges.

A pod that can never start (an unknown storage class, a pod never Ready) fails `make up`
within `podReadyTimeout`, explained; a namespace the stack does not fit (a quota, a
LimitRange, another stack's objects) is refused before anything is deployed; an `up`
killed or interrupted at a point read from the engine's event log is recovered by
`make up` or `make recover` (a restart of the control plane itself is
test_control_plane_faults.py). Each scenario deploys into its own namespace as that
namespace's user and runs what the make targets run (tools/up.py, tools/recover.py),
then asserts on the message the user reads and on the live objects, claims and state.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import (
    Cluster,
    Stack,
    claims,
    object_uids,
    run_tool,
    stack_from_file,
)

UNKNOWN_CLASS = "no-such-class"
KNOWN_CLASS = "ssd"
SETUP_JOB_URN = "$kubernetes:batch/v1:Job::setup"
WAIT_SECONDS = 30
# The engine's start, the resources before the StatefulSet, and kubectl's reads: well
# under a minute on the local control plane; the provider's own default would be 10 minutes.
OVERHEAD_SECONDS = 60


def qa_stack(cluster: Cluster, name: str, *quota: str, **overrides: Any) -> Stack:
    """The qa stack file as stack `e2e-<name>`, in a namespace of its own, `elk-e2e-<name>`."""
    namespace = f"elk-e2e-{name}"
    kubeconfig = cluster.namespace(namespace, *quota)
    return stack_from_file(cluster, f"e2e-{name}", "Pulumi.qa.yaml", namespace, kubeconfig, **overrides)


def make_up(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """What `make up STACK=<stack> ARGS=...` runs."""
    return run_tool("up", stack, "--yes", "--skip-preview", *args)


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
    stack = qa_stack(
        cluster,
        "fault-class",
        **{"elk-stack:storageClass": UNKNOWN_CLASS, "elk-stack:podReadyTimeout": f"{WAIT_SECONDS}s"},
    )
    namespace = stack.namespace
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
    stack = qa_stack(cluster, "fault-quota", "pods=2")
    namespace = stack.namespace
    refused = make_up(stack)

    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        "make up: the stack does not fit the namespace; nothing was deployed:",
        "  ResourceQuota namespace-quota: pods is limited to 2, 0 in use (0 of it this stack's); the stack "
        "needs 5: 3 more. Lower the components' replicas, or ask for a larger quota.",
    ]
    kinds = "configmaps,secrets,services,statefulsets,deployments,jobs,persistentvolumeclaims,pods"
    left = {item["metadata"]["name"] for item in cluster.get_json(kinds, "-n", namespace)["items"]}
    assert left <= {"kube-root-ca.crt"}, left  # the API server's own ConfigMap in every namespace

    # Three workloads' pods and two Jobs' (setup and settle run side by side): the message's figure.
    cluster.kubectl(
        "patch",
        "resourcequota",
        "namespace-quota",
        "-n",
        namespace,
        "--type=merge",
        "--patch",
        '{"spec": {"hard": {"pods": "5"}}}',
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
    stack = qa_stack(cluster, "fault-unready", **{"elk-stack:podReadyTimeout": f"{WAIT_SECONDS}s"})
    namespace = stack.namespace
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
    stack = qa_stack(cluster, "fault-limits")
    namespace = stack.namespace
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
        "make up: the stack does not fit the namespace; nothing was deployed:",
        "  LimitRange at-most-one-cpu: StatefulSet elk-elasticsearch, container elasticsearch: limits.cpu 2 "
        "is above the maximum 1 (change elasticsearch.resources)",
    ]
    assert stack.state()["deployment"].get("resources") is None

    elasticsearch = dict(stack.config["elk-stack:elasticsearch"])
    elasticsearch["resources"] = {**elasticsearch["resources"], "limits": {"cpu": "1", "memory": "4Gi"}}
    stack.set_config("elk-stack:elasticsearch", elasticsearch)
    deployed = make_up(stack)
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr


@pytest.mark.claim(
    "Another stack's objects: a second stack with the same config in a namespace where a first "
    "one runs is refused by `make up` before it deploys, naming the objects, and the first "
    "stack's objects keep their UIDs"
)
def test_a_second_stack_does_not_take_over_the_first_ones_objects(cluster: Cluster) -> None:
    namespace = "elk-e2e-fault-owner"
    kubeconfig = cluster.namespace(namespace)
    first = stack_from_file(cluster, "e2e-fault-owner", "Pulumi.qa.yaml", namespace, kubeconfig)
    assert make_up(first).returncode == 0
    before = object_uids(cluster, namespace)
    second = stack_from_file(cluster, "e2e-fault-owner-2", "Pulumi.qa.yaml", namespace, kubeconfig)
    refused = make_up(second)

    assert refused.returncode == 1
    lines = refused.stderr.splitlines()
    assert lines[0] == "make up: the stack does not fit the namespace; nothing was deployed:"
    assert f"objects this stack makes already exist in {namespace} and are not in its state" in lines[1]
    assert "StatefulSet elk-elasticsearch" in lines[1]
    assert "PersistentVolumeClaim" not in lines[1]
    assert object_uids(cluster, namespace) == before
    assert make_up(first).returncode == 0  # the first stack itself is never refused


def empty_state_sidecar(stack: Stack) -> None:
    """Leave the state as a kill while the engine writes a checkpoint can: its sidecar empty.

    The file backend's blob store truncates `<stack>.json.attrs` and then writes it before
    it renames each new checkpoint into place; a SIGKILL between the two left it empty in
    CI, and every `pulumi` command then failed with `failed to load checkpoint: EOF`. Here
    the kill point is the test's, so the file is emptied as that kill left it.
    """
    root = Path(stack.env["PULUMI_BACKEND_URL"].removeprefix("file://"))
    [sidecar] = root.glob(f".pulumi/stacks/*/{stack.name}.json.attrs")
    sidecar.write_text("")


def make_recover(stack: Stack) -> subprocess.CompletedProcess[str]:
    """What `make recover STACK=<stack> ARGS=...` runs."""
    return run_tool("recover", stack, "--yes", "--skip-preview")


Event = dict[str, Any]


def interrupted_up(stack: Stack, log: Path, at: Callable[[Event], bool], sig: signal.Signals) -> str:
    """`pulumi up`, sent `sig` with its whole process group when the engine's event log shows `at`.

    The point comes from the engine's own events, not from a sleep: the signal goes out
    within 50 ms of the event being written. The killed run's output, for the failure message,
    goes to a file beside the log: a pipe that nobody reads while waiting could fill and
    stall the engine before the point.
    """
    command = ["pulumi", "up", "--stack", stack.name, "--yes", "--skip-preview", "--non-interactive"]
    output_file = log.with_suffix(".out")
    with output_file.open("w") as sink:
        process = subprocess.Popen(
            [*command, "--color", "never", "--event-log", str(log)],
            cwd=stack.project,
            env={**stack.env, "PULUMI_DEBUG_COMMANDS": "true"},
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        when_logged(process, lambda: log, at, lambda: os.killpg(process.pid, sig))
        process.wait(timeout=300)
    output = output_file.read_text()
    assert process.returncode != 0, f"the run ended before the kill point:\n{output[-2000:]}"
    return output


def when_logged(
    process: subprocess.Popen[Any],
    log: Callable[[], Path | None],
    at: Callable[[Event], bool],
    act: Callable[[], None],
) -> bool:
    """Do `act` once the engine's event log shows `at`, looking every 50 ms while `process` runs.

    Whether it was done: not if the process ended first, or ran 300 s without reaching `at`.
    """
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        if shows(log(), at):
            act()
            return True
        time.sleep(0.05)
    return False


def shows(log: Path | None, at: Callable[[Event], bool]) -> bool:
    """Whether the engine's event log, as written so far, has an event that is `at`.

    Only whole lines: the engine may be halfway through writing the last one.
    """
    if log is None or not log.exists():
        return False
    return any(at(json.loads(line)) for line in log.read_text().split("\n")[:-1] if line.strip())


def created(kind: str) -> Callable[[Event], bool]:
    """The engine has finished creating an object of this type."""
    return lambda event: ((event.get("resOutputsEvent") or {}).get("metadata") or {}).get("type") == kind


def begun(kind: str, operation: str) -> Callable[[Event], bool]:
    """The engine has begun this operation on an object of this type."""

    def at(event: Event) -> bool:
        metadata = (event.get("resourcePreEvent") or {}).get("metadata") or {}
        return bool(metadata.get("type") == kind and metadata.get("op") == operation)

    return at


def assert_converged(cluster: Cluster, stack: Stack) -> None:
    """Every object of the render is live, no operation pending, no change left to make."""
    rendered = {
        (manifest["kind"], manifest["metadata"]["name"])
        for path in stack.render().glob("*.yaml")
        for manifest in [yaml.safe_load(path.read_text())]
    }
    live = cluster.get_json(
        "configmaps,secrets,services,statefulsets,deployments,jobs,persistentvolumeclaims,"
        "serviceaccounts,networkpolicies,poddisruptionbudgets,ingresses",
        "-n",
        stack.namespace,
    )["items"]
    assert rendered <= {(item["kind"], item["metadata"]["name"]) for item in live}
    assert not stack.state()["deployment"].get("pending_operations")
    stack.pulumi("preview", "--expect-no-changes")


@pytest.mark.claim(
    "A first `up` killed (SIGKILL of the engine and its plugins) once Secrets are created, or "
    "once the setup Job has begun, its state's sidecar left empty as a kill mid-checkpoint leaves "
    "it: the next `make up` names `make recover` (the lock is held, or objects the killed run made "
    "are not in its state); that mends the sidecar and converges (every object of the render "
    "live, no pending operation, `preview --expect-no-changes`), and a version bump afterwards "
    "updates every object with no field manager conflict"
)
@pytest.mark.parametrize(
    ("point", "at"),
    [
        ("secret", created("kubernetes:core/v1:Secret")),
        ("setup", begun("kubernetes:batch/v1:Job", "create")),
    ],
)
def test_a_killed_first_up_is_recovered_by_one_command(
    cluster: Cluster, tmp_path: Path, point: str, at: Callable[[Event], bool]
) -> None:
    stack = qa_stack(cluster, f"kill-{point}")
    namespace = stack.namespace
    interrupted_up(stack, tmp_path / "killed.jsonl", at, signal.SIGKILL)
    empty_state_sidecar(stack)

    # The lock, or objects the killed run made before its state recorded them: both name the command.
    locked = make_up(stack)
    assert locked.returncode != 0
    assert (
        "its lock is still held" in locked.stderr or "was killed before its state recorded" in locked.stderr
    )
    assert f"run `make recover STACK={stack.name}`" in locked.stderr

    recovered = make_recover(stack)
    assert recovered.returncode == 0, recovered.stdout[-3000:] + recovered.stderr
    assert "which the killed run left empty" in recovered.stderr
    assert_converged(cluster, stack)
    claims_before = {name: uid for name, (uid, _, _) in claims(cluster, namespace).items()}

    stack.set_config("elk-stack:version", "9.4.4")
    bumped = make_up(stack)
    assert bumped.returncode == 0, bumped.stdout[-3000:] + bumped.stderr
    assert {name: uid for name, (uid, _, _) in claims(cluster, namespace).items()} == claims_before


@pytest.mark.claim(
    "An update stopped while a StatefulSet rolls, at the point the engine begins updating it: "
    "after Ctrl-C (SIGINT to the engine's process group) the engine stops gracefully and the next "
    "`make up` converges; after SIGKILL the next `make up` names `make recover`, which converges. "
    "Each time no pending operation is left, the StatefulSet is at the new version and every "
    "claim keeps its UID"
)
def test_an_update_stopped_during_a_roll_converges(cluster: Cluster, tmp_path: Path) -> None:
    stack = qa_stack(cluster, "kill-roll")
    assert make_up(stack).returncode == 0
    bump_stopped_twice(cluster, stack, tmp_path, begun("kubernetes:apps/v1:StatefulSet", "update"))


def bump_stopped_twice(cluster: Cluster, stack: Stack, tmp_path: Path, at: Callable[[Event], bool]) -> None:
    """Bump the version to 9.4.6, then 9.4.7, stopping each `up` at `at`.

    The first with Ctrl-C, resumed by `make up`; the second with SIGKILL, resumed by the
    `make recover` that `make up` names. Each time the stack converges, the StatefulSet is
    at the new version and every claim keeps its UID.
    """
    namespace = stack.namespace
    claims_before = {name: uid for name, (uid, _, _) in claims(cluster, namespace).items()}
    for version, sig in (("9.4.6", signal.SIGINT), ("9.4.7", signal.SIGKILL)):
        stack.set_config("elk-stack:version", version)
        interrupted_up(stack, tmp_path / f"{sig.name}.jsonl", at, sig)
        resumed = resume(stack, sig)
        assert resumed.returncode == 0, f"{sig.name}: {resumed.stdout[-3000:]}{resumed.stderr}"
        assert_converged(cluster, stack)
        live = cluster.get_json("statefulset", "elk-elasticsearch", "-n", namespace)
        assert live["spec"]["template"]["spec"]["containers"][0]["image"].endswith(f":{version}"), sig.name
        assert {name: uid for name, (uid, _, _) in claims(cluster, namespace).items()} == claims_before


def resume(stack: Stack, sig: signal.Signals, creating: bool = False) -> subprocess.CompletedProcess[str]:
    """What the user runs after an `up` stopped by `sig`: `make up`, and the `make recover` it names.

    After SIGKILL the lock is held, so `make up` always names it. After Ctrl-C the engine
    stops gracefully, but pulumi-kubernetes cancels the requests it has in flight: an object
    the API server created just before the cancel is reported `context canceled` and is in
    no state, so when the stopped run was `creating` objects, `make up` may name it and
    `make recover` (seen in CI: a Secret of a first `up`).
    """
    first = make_up(stack)
    if sig != signal.SIGKILL and (first.returncode == 0 or not creating):
        return first
    assert first.returncode != 0 and f"run `make recover STACK={stack.name}`" in first.stderr, first.stderr
    return make_recover(stack)


def job_begun(urn_suffix: str) -> Callable[[Event], bool]:
    """The engine has begun making this Job: a first one, or the one replacing the last."""

    def at(event: Event) -> bool:
        metadata = (event.get("resourcePreEvent") or {}).get("metadata") or {}
        return bool(
            metadata.get("urn", "").endswith(urn_suffix)
            and metadata.get("op") in {"create", "create-replacement"}
        )

    return at


@pytest.mark.claim(
    "Ctrl-C (SIGINT to the engine's process group) on a first `up` once Secrets are created, "
    "then on a version bump once the setup Job has begun: each time the engine stops gracefully, "
    "and the next `make up` converges, or, when the cancel cut short a create the API server had "
    "made (pulumi-kubernetes reports `context canceled`), names that object and `make recover`, "
    "which converges (every object of the render live, no pending operation, "
    "`preview --expect-no-changes`) with every claim keeping its UID"
)
def test_an_up_interrupted_at_its_secrets_or_its_setup_job_converges_on_the_next_up(
    cluster: Cluster, tmp_path: Path
) -> None:
    stack = qa_stack(cluster, "int-setup")
    namespace = stack.namespace
    interrupted_up(stack, tmp_path / "secrets.jsonl", created("kubernetes:core/v1:Secret"), signal.SIGINT)
    resumed = resume(stack, signal.SIGINT, creating=True)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr
    assert_converged(cluster, stack)
    claims_before = {name: uid for name, (uid, _, _) in claims(cluster, namespace).items()}

    stack.set_config("elk-stack:version", "9.4.4")
    interrupted_up(stack, tmp_path / "setup.jsonl", job_begun(SETUP_JOB_URN), signal.SIGINT)
    resumed = resume(stack, signal.SIGINT, creating=True)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr
    assert_converged(cluster, stack)
    job = cluster.get_json("job", "elk-elasticsearch-setup", "-n", namespace)
    assert job["metadata"]["labels"]["app.kubernetes.io/version"] == "9.4.4"
    assert {name: uid for name, (uid, _, _) in claims(cluster, namespace).items()} == claims_before
