"""Control-plane faults on the real engine: kube-apiserver or etcd restarted in the middle of an update.

The `up` either completes or fails naming the API server, and the next `make up`
converges with every claim intact. Both cases share one qa stack, deployed once at a
version whose pods kwok makes Ready only after 6 s, so each roll lasts long enough to
restart a component in; the restart comes when the engine's event log shows the
StatefulSet's update begun.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import PROJECT_DIR, SLOW_VERSION, Cluster, Stack, claims, record_figure
from tests.e2e.test_faults import Event, assert_converged, begun, make_up, qa_stack, when_logged
from tools.e2e.control_plane import restart
from tools.e2e.layout import Layout
from tools.e2e.processes import running_pid

STATEFULSET = "kubernetes:apps/v1:StatefulSet"


def up_with_fault(
    stack: Stack, scratch: Path, at: Callable[[Event], bool], fault: Callable[[], None]
) -> subprocess.CompletedProcess[str]:
    """`make up`, with `fault` done once the engine's event log shows `at`; how the run ended.

    `make up` asks the engine for its event log in a temporary directory of its own: TMPDIR
    puts that in `scratch`, where this reads it. The output goes to files, which a run
    cannot fill up as it can a pipe that nobody reads while the fault is on.
    """
    command = [sys.executable, "-m", "tools.up", stack.name, "--cwd", str(stack.project)]
    command += ["--yes", "--skip-preview", "--non-interactive", "--color", "never"]
    out, err = scratch / "stdout", scratch / "stderr"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            command, cwd=PROJECT_DIR, env={**stack.env, "TMPDIR": str(scratch)}, stdout=stdout, stderr=stderr
        )
        try:
            done = when_logged(
                process, lambda: next(scratch.glob("elk-stack-up-*/events.jsonl"), None), at, fault
            )
            assert done, f"`make up` ended, or ran 300 s, before the fault:\n{err.read_text()}"
        finally:
            process.wait(timeout=600)
    return subprocess.CompletedProcess(command, process.returncode, out.read_text(), err.read_text())


@pytest.fixture(scope="module")
def slow_rolling(cluster: Cluster) -> Stack:
    """The qa stack at the slow version, deployed once: each restart scenario rolls it anew.

    A heap change rolls the Elasticsearch StatefulSet and nothing else; a version change
    would run the pre-upgrade snapshot and the topology Jobs first, 20 s more per scenario.
    """
    # A pod that stays Pending fails the `up` in 90 s rather than the provider's 10 minutes.
    overrides = {"elk-stack:version": SLOW_VERSION, "elk-stack:podReadyTimeout": "90s"}
    stack = qa_stack(cluster, "restart", **overrides)
    deployed = make_up(stack)
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr
    return stack


@pytest.mark.claim(
    "kube-apiserver (with kube-scheduler), or etcd, restarted (SIGTERM, SIGKILL after 2 s, started "
    "again on its port with its command line) once `make up` has begun to roll the Elasticsearch "
    "StatefulSet: that `up` completes or fails naming the API server, the next `make up` converges "
    "(no pending operation, `preview --expect-no-changes`) with the roll done, and every claim keeps "
    "its UID"
)
@pytest.mark.parametrize(
    ("components", "heap"),
    # kube-scheduler is restarted too, once the API server is back: a scheduler that lost the
    # API server in the middle of binding the rolled pod can keep it as assumed for ever (its
    # cache then says "corrupted" and the pod stays Pending with no event, seen once in CI);
    # a fresh scheduler reads every pod anew, as after a control plane's restart.
    [(("kube-apiserver", "kube-scheduler"), "1g"), (("etcd",), "1536m")],
    ids=["kube-apiserver", "etcd"],
)
def test_an_update_during_a_control_plane_restart_converges_on_the_next_up(
    cluster: Cluster, slow_rolling: Stack, tmp_path: Path, components: tuple[str, ...], heap: str
) -> None:
    stack, namespace, layout = slow_rolling, slow_rolling.namespace, Layout(cluster.directory)
    claims_before = {name: uid for name, (uid, _, _) in claims(cluster, namespace).items()}
    pids_before = {component: running_pid(layout, component) for component in components}
    stack.set_config("elk-stack:elasticsearch", {**stack.config["elk-stack:elasticsearch"], "heap": heap})

    def fault() -> None:
        for component in components:
            restart(layout, component)

    faulted = up_with_fault(stack, tmp_path, begun(STATEFULSET, "update"), fault)

    for component, pid_before in pids_before.items():
        assert running_pid(layout, component) not in (None, pid_before), component
    assert "Traceback" not in faulted.stderr, faulted.stderr
    if faulted.returncode != 0:
        # The API server was away as the engine sent a request: named, not taken for a stuck pod.
        assert "make up: the Kubernetes API server did not answer during the deploy (" in faulted.stderr
        assert f"run `make up STACK={stack.name}`, which carries on from there" in faulted.stderr
        assert "did not become Ready" not in faulted.stderr, faulted.stderr
    record_figure(f"{components[0]} restarted during a roll: that `make up` {outcome(faulted)}")
    resumed = make_up(stack)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr
    assert_converged(cluster, stack)
    assert {name: uid for name, (uid, _, _) in claims(cluster, namespace).items()} == claims_before
    statefulset = cluster.get_json("statefulset", "elk-elasticsearch", "-n", namespace)
    assert f"-Xms{heap} " in json.dumps(statefulset["spec"]["template"]["spec"]["containers"][0]["env"])
    assert rolled(statefulset), statefulset["status"]


def outcome(run: subprocess.CompletedProcess[str]) -> str:
    """How a run ended, for the summary: either is right, and which one varies from run to run."""
    if run.returncode == 0:
        return "completed"
    return f"failed (exit {run.returncode}): {(run.stderr.strip().splitlines() or [''])[-1]}"


def rolled(statefulset: dict[str, Any]) -> bool:
    """Whether every replica runs the StatefulSet's current template and is Ready."""
    status, replicas = statefulset["status"], statefulset["spec"]["replicas"]
    return bool(
        status.get("updateRevision") == status.get("currentRevision")
        and status.get("updatedReplicas") == status.get("readyReplicas") == replicas
    )
