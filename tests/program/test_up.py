"""`make up` explains a workload that never became Ready, and the way past protected empty claims.

The failures themselves come from the real engine and control plane:
tests/e2e/test_faults.py runs this tool against a stack whose storage class does not exist.
Here, what it reads from the engine's event log and the namespace's events, and what it prints.
"""

from __future__ import annotations

from typing import Any

import pytest

from tools.recover import pending_count
from tools.up import (
    Claim,
    ObjectWarning,
    StuckWorkload,
    claim_owner,
    engine_errors,
    explain,
    likely_key,
    locked_hint,
    made_by,
    replacement_refused,
    stack_claims,
    stuck_workloads,
    unbound_claims_hint,
    unreachable_api,
    unreachable_hint,
    unready_pods,
    warnings_of,
    with_parallel,
)

STATEFULSET_URN = (
    "urn:pulumi:qa::elk-stack::elk-stack:index:ElasticsearchCluster$elk-stack:index:ElasticsearchNode"
    "$kubernetes:apps/v1:StatefulSet::elasticsearch"
)
DEPLOYMENT_URN = "urn:pulumi:qa::elk-stack::elk-stack:index:KibanaUi$kubernetes:apps/v1:Deployment::kibana"
CLAIM_URN = (
    "urn:pulumi:qa::elk-stack::elk-stack:index:LogstashPipeline"
    "$kubernetes:core/v1:PersistentVolumeClaim::logstash-queue-0"
)
ELASTICSEARCH = StuckWorkload("StatefulSet", "elk-elasticsearch", "elk-qa", "elasticsearch")
KIBANA = StuckWorkload("Deployment", "elk-kibana", "elk-qa", "kibana")


def pre_event(urn: str, name: str) -> dict[str, Any]:
    kind = urn.split("::")[2].split("$")[-1]
    inputs = {"metadata": {"name": name, "namespace": "elk-qa"}}
    return {"resourcePreEvent": {"metadata": {"urn": urn, "type": kind, "new": {"inputs": inputs}}}}


def failed_event(urn: str) -> dict[str, Any]:
    return {"resOpFailedEvent": {"metadata": {"urn": urn, "type": urn.split("::")[2].split("$")[-1]}}}


def event(
    kind: str, name: str, reason: str, message: str, when: str, type_: str = "Warning"
) -> dict[str, Any]:
    return {
        "type": type_,
        "involvedObject": {"kind": kind, "name": name},
        "reason": reason,
        "message": message,
        "lastTimestamp": when,
    }


def test_only_the_workloads_whose_step_failed_are_stuck() -> None:
    log = [
        pre_event(STATEFULSET_URN, "elk-elasticsearch"),
        pre_event(DEPLOYMENT_URN, "elk-kibana"),
        failed_event(STATEFULSET_URN),
        failed_event(CLAIM_URN),
    ]
    assert stuck_workloads(log) == [ELASTICSEARCH]


def test_a_workload_is_read_with_its_section() -> None:
    log = [pre_event(DEPLOYMENT_URN, "elk-kibana"), failed_event(DEPLOYMENT_URN)]
    assert stuck_workloads(log) == [KIBANA]


@pytest.mark.parametrize(
    ("workload", "name", "mine"),
    [
        (ELASTICSEARCH, "elk-elasticsearch", True),
        (ELASTICSEARCH, "elk-elasticsearch-0", True),
        (ELASTICSEARCH, "data-elk-elasticsearch-0", True),
        (ELASTICSEARCH, "elk-elasticsearch-hot", False),
        (ELASTICSEARCH, "elk-elasticsearch-hot-0", False),
        (ELASTICSEARCH, "data-elk-elasticsearch-hot-0", False),
        (ELASTICSEARCH, "elk-elasticsearch-setup-x7k2p", False),
        (KIBANA, "elk-kibana-5d9f8c7b6", True),
        (KIBANA, "elk-kibana-5d9f8c7b6-x7k2p", True),
        (KIBANA, "elk-logstash-0", False),
    ],
)
def test_a_workload_owns_its_pods_and_claims_and_no_other_workloads(
    workload: StuckWorkload, name: str, mine: bool
) -> None:
    assert bool(made_by(workload).match(name)) is mine


def test_the_newest_warning_of_each_object_is_kept_and_normal_events_are_not() -> None:
    events = [
        event("Pod", "elk-elasticsearch-0", "FailedScheduling", "old", "2026-12-07T10:00:00Z"),
        event("Pod", "elk-elasticsearch-0", "FailedScheduling", "new", "2026-12-07T10:05:00Z"),
        event("Pod", "elk-elasticsearch-0", "Scheduled", "fine", "2026-12-07T10:06:00Z", "Normal"),
        event("Pod", "elk-logstash-0", "FailedScheduling", "not ours", "2026-12-07T10:06:00Z"),
    ]
    assert warnings_of(ELASTICSEARCH, events) == [
        ObjectWarning("Pod", "elk-elasticsearch-0", "FailedScheduling", "new")
    ]


@pytest.mark.parametrize(
    ("warning", "key"),
    [
        (
            ObjectWarning(
                "PersistentVolumeClaim",
                "data-elk-elasticsearch-0",
                "ProvisioningFailed",
                'storageclass.storage.k8s.io "x" not found',
            ),
            "elasticsearch.storage.storageClass (a node set's: nodeSets[].storage.storageClass), or the "
            "top-level storageClass: no StorageClass has that name",
        ),
        (
            ObjectWarning(
                "StatefulSet",
                "elk-elasticsearch",
                "FailedCreate",
                'pods "elk-elasticsearch-0" is forbidden: exceeded quota: q, requested: pods=1',
            ),
            "elasticsearch.resources or elasticsearch.replicas",
        ),
        (
            ObjectWarning(
                "StatefulSet",
                "elk-elasticsearch",
                "FailedCreate",
                "pods is forbidden: maximum cpu usage per Container is 1, but limit is 2",
            ),
            "elasticsearch.resources: a LimitRange",
        ),
        (
            ObjectWarning(
                "Pod", "elk-elasticsearch-0", "FailedScheduling", "0/3 nodes are available: Insufficient cpu"
            ),
            "elasticsearch.resources.requests",
        ),
        (
            ObjectWarning("Pod", "elk-elasticsearch-0", "Failed", "Failed to pull image: ErrImagePull"),
            "version or imagePullSecrets",
        ),
        (
            ObjectWarning("Pod", "elk-elasticsearch-0", "Unhealthy", "Readiness probe failed"),
            "podReadyTimeout",
        ),
    ],
)
def test_each_reason_names_the_key_most_likely_at_fault(warning: ObjectWarning, key: str) -> None:
    assert likely_key("elasticsearch", warning).startswith(key)


def test_the_queue_claim_names_the_logstash_storage_class() -> None:
    warning = ObjectWarning(
        "PersistentVolumeClaim",
        "queue-elk-logstash-0",
        "ProvisioningFailed",
        'storageclass.storage.k8s.io "x" not found',
    )
    assert likely_key("logstash", warning).startswith("logstash.queue.storage.storageClass")


def test_the_message_names_the_workload_each_object_its_reason_and_key() -> None:
    warning = ObjectWarning(
        "PersistentVolumeClaim",
        "data-elk-elasticsearch-0",
        "ProvisioningFailed",
        'storageclass.storage.k8s.io "x" not found',
    )
    lines = explain(ELASTICSEARCH, [warning], []).splitlines()
    assert (
        lines[0]
        == "make up: StatefulSet elk-elasticsearch did not become Ready within its wait (podReadyTimeout)."
    )
    assert (
        lines[1] == "  PersistentVolumeClaim data-elk-elasticsearch-0: ProvisioningFailed: "
        'storageclass.storage.k8s.io "x" not found'
    )
    assert lines[2].startswith("    most likely at fault: elasticsearch.storage.storageClass")


def test_without_a_warning_or_a_pod_the_message_says_so() -> None:
    assert "nothing reports a Warning event" in explain(ELASTICSEARCH, [], [])


def pod(name: str, phase: str, conditions: list[dict[str, str]], waiting: str = "") -> dict[str, Any]:
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    return {
        "metadata": {"name": name},
        "status": {"phase": phase, "conditions": conditions, "containerStatuses": [{"state": state}]},
    }


UNREADY = {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "message": "unready: [es]"}


def test_a_pod_not_ready_is_read_from_its_first_failing_condition_and_waiting_containers() -> None:
    pods = [
        pod("elk-elasticsearch-0", "Running", [{"type": "Initialized", "status": "True"}, UNREADY]),
        pod("elk-elasticsearch-1", "Running", [UNREADY], waiting="CrashLoopBackOff"),
        pod("elk-elasticsearch-2", "Running", [{"type": "Ready", "status": "True"}]),
        pod("elk-logstash-0", "Running", [UNREADY]),
    ]
    assert unready_pods(ELASTICSEARCH, pods) == [
        ObjectWarning(
            "Pod", "elk-elasticsearch-0", "Running, not Ready", "ContainersNotReady: unready: [es]"
        ),
        ObjectWarning(
            "Pod",
            "elk-elasticsearch-1",
            "Running, not Ready",
            "ContainersNotReady: unready: [es]; CrashLoopBackOff",
        ),
    ]


def test_a_running_pod_without_an_event_is_reported_by_its_status_with_the_log_command() -> None:
    unready = ObjectWarning("Pod", "elk-elasticsearch-0", "Running, not Ready", "ContainersNotReady: x")
    lines = explain(ELASTICSEARCH, [], [unready]).splitlines()
    assert lines[1] == "  Pod elk-elasticsearch-0: Running, not Ready: ContainersNotReady: x"
    assert lines[2].startswith("    most likely at fault: podReadyTimeout")
    assert lines[3] == "    its log says why: kubectl logs --namespace elk-qa elk-elasticsearch-0"


def test_a_pod_with_a_warning_event_is_reported_once_by_the_event() -> None:
    event_line = ObjectWarning("Pod", "elk-elasticsearch-0", "FailedScheduling", "Insufficient cpu")
    status_line = ObjectWarning("Pod", "elk-elasticsearch-0", "Pending, not Ready", "Unschedulable")
    message = explain(ELASTICSEARCH, [event_line], [status_line])
    assert "FailedScheduling" in message
    assert "Pending, not Ready" not in message


def test_a_refused_claim_replacement_is_recognised_and_nothing_else() -> None:
    refused = {
        "severity": "error",
        "message": f'unable to replace resource "{CLAIM_URN}"\nas it is protected',
    }
    other = {"severity": "error", "message": f'unable to replace resource "{STATEFULSET_URN}"'}
    warning = {**refused, "severity": "warning"}
    assert replacement_refused([{"diagnosticEvent": refused}])
    assert not replacement_refused([{"diagnosticEvent": other}, {"diagnosticEvent": warning}])


def test_the_claims_of_a_state_are_read_with_their_live_names() -> None:
    state = {
        "deployment": {
            "resources": [
                {
                    "urn": CLAIM_URN,
                    "type": "kubernetes:core/v1:PersistentVolumeClaim",
                    "outputs": {"metadata": {"name": "queue-elk-logstash-0", "namespace": "elk-qa"}},
                },
                {"urn": STATEFULSET_URN, "type": "kubernetes:apps/v1:StatefulSet"},
            ]
        }
    }
    assert stack_claims(state) == [Claim(CLAIM_URN, "queue-elk-logstash-0", "elk-qa")]


def test_a_claim_belongs_to_the_statefulset_in_its_name() -> None:
    assert claim_owner(Claim("u", "data-elk-elasticsearch-hot-2", "ns")) == "elk-elasticsearch-hot"


def test_empty_claims_are_made_anew_statefulset_first_then_up_with_refresh() -> None:
    claims = [
        Claim("u1", "data-elk-elasticsearch-0", "elk-qa"),
        Claim("u2", "queue-elk-logstash-0", "elk-qa"),
    ]
    hint = unbound_claims_hint("qa", claims, ["elk-elasticsearch"]).splitlines()
    assert hint[1:] == [
        "  kubectl delete statefulset --namespace elk-qa elk-elasticsearch",
        "  kubectl delete persistentvolumeclaim --namespace elk-qa "
        "data-elk-elasticsearch-0 queue-elk-logstash-0",
        "  make up STACK=qa ARGS=--refresh",
    ]


def test_a_held_lock_points_to_make_recover_for_the_stack() -> None:
    hint = locked_hint("qa")
    assert "its lock is still held" in hint
    assert "If no other `up` of qa is running, run `make recover STACK=qa`" in hint
    assert "docs/troubleshooting.md#my-up-was-killed" in hint


def test_pending_operations_are_counted_from_the_exported_state() -> None:
    assert pending_count({"deployment": {"pending_operations": [{"type": "creating"}] * 3}}) == 3
    assert pending_count({"deployment": {}}) == 0
    assert pending_count({}) == 0


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--yes"], ["--parallel=32", "--yes"]),
        (["--parallel", "4"], ["--parallel", "4"]),
        (["--parallel=4"], ["--parallel=4"]),
        (["-p", "4"], ["-p", "4"]),
        (["-p4", "--yes"], ["-p4", "--yes"]),
        (["--skip-preview", "-p=2"], ["--skip-preview", "-p=2"]),
        # A word that only starts like the flag is not it.
        (["--policy-pack", "p"], ["--parallel=32", "--policy-pack", "p"]),
    ],
)
def test_make_up_sets_parallel_unless_the_user_did(flags: list[str], expected: list[str]) -> None:
    assert with_parallel(flags, env={}) == expected


def test_make_up_leaves_parallel_to_pulumi_parallel_when_it_is_set() -> None:
    assert with_parallel(["--yes"], env={"PULUMI_PARALLEL": "4"}) == ["--yes"]


@pytest.mark.parametrize("value", ["0", "", "many", "-2"])
def test_a_pulumi_parallel_the_engine_ignores_does_not_turn_off_make_ups_parallel(value: str) -> None:
    """The engine reads PULUMI_PARALLEL only when it is a number above 0."""
    assert with_parallel(["--yes"], env={"PULUMI_PARALLEL": value}) == ["--parallel=32", "--yes"]


REFUSED = (
    'error: update of resource "urn:pulumi:qa::elk-stack::elk-stack:index:ElasticsearchCluster$'
    'kubernetes:apps/v1:StatefulSet::elasticsearch" failed: Patch "https://127.0.0.1:6443/apis/apps/v1/'
    'namespaces/elk-qa/statefulsets/elk-elasticsearch?force=true": dial tcp 127.0.0.1:6443: '
    "connect: connection refused"
)


def test_an_api_server_that_went_away_is_named_instead_of_a_workload_not_ready() -> None:
    errors = f"Updating (qa):\n{REFUSED}\nerror: update failed\n"
    line = unreachable_api(errors)
    assert line == REFUSED
    assert unreachable_hint("qa", line) == (
        f"make up: the Kubernetes API server did not answer during the deploy ({REFUSED}). The stack is "
        "not at fault, and the engine saved what it did: once the API server answers again "
        "(`kubectl get pods` works), run `make up STACK=qa`, which carries on from there "
        "(docs/troubleshooting.md#the-api-server-restarted-during-my-up)."
    )


def test_a_failure_that_is_the_stacks_own_is_not_taken_for_an_unreachable_server() -> None:
    errors = 'error: resource "elk-elasticsearch" was not successful: timed out waiting for the condition\n'
    assert unreachable_api(errors) is None


def test_an_image_registry_that_does_not_answer_is_the_workloads_fault_not_the_api_servers() -> None:
    """The provider quotes a pod's pull error, with the same network errors as an API request."""
    errors = (
        'error: resource "elk-elasticsearch" was not successful: containers with unready status: '
        '[elasticsearch] -- [ErrImagePull] failed to pull image: Get "https://docker.elastic.co/v2/": '
        "dial tcp 34.1.2.3:443: i/o timeout\n"
    )
    assert unreachable_api(errors) is None


def test_an_api_server_that_is_up_but_cannot_serve_yet_is_named() -> None:
    line = (
        'error: update of resource "elk-elasticsearch" failed: the server is currently unable to '
        "handle the request (patch statefulsets.apps elk-elasticsearch)"
    )
    assert unreachable_api(f"Updating (qa):\n{line}\n") == line


def test_the_engine_errors_come_from_its_event_log_where_pulumi_does_not_print_them_on_stderr() -> None:
    """`pulumi up` prints its diagnostics on stdout; the event log has them as error diagnostics."""
    events: list[dict[str, Any]] = [
        {"diagnosticEvent": {"message": "info line\n", "severity": "info"}},
        {
            "diagnosticEvent": {
                "urn": "urn:pulumi:qa::elk-stack::x",
                "message": f"{REFUSED}\n",
                "severity": "error",
            }
        },
        {"resOutputsEvent": {"metadata": {}}},
    ]
    assert engine_errors(events) == f"{REFUSED}\n"
    assert unreachable_api(f"make up stderr\n{engine_errors(events)}") == REFUSED
