"""`make up`: `pulumi up`, and when a workload never becomes Ready, why, in the stack file's words.

The provider bounds each workload's wait (`podReadyTimeout`) but then reports only "timed
out waiting for the condition". The reason is in the namespace's events: a claim whose
storage class does not exist, a pod the scheduler cannot place, a quota that refuses the
pod. This tool reads the engine's event log for the workloads that failed, reads the
Warning events of their pods and claims with `kubectl` (a namespace user may list events),
and names the object, the reason, and the config key most likely at fault
(docs/troubleshooting.md#a-pod-never-became-ready).

    python -m tools.up <stack> [--cwd <project>] [pulumi up flags...]
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.kubectl import kubectl_json
from tools.preflight import refusal
from tools.stack_command import exported_state, stack_arguments

DOCUMENTED_AT = "docs/troubleshooting.md#a-pod-never-became-ready"
RECOVERY_DOC = "docs/troubleshooting.md#my-up-was-killed"
LOCKED = "the stack is currently locked"
UNREACHABLE_DOC = "docs/troubleshooting.md#the-api-server-restarted-during-my-up"
# What Go's HTTP client prints when the server it called is not there to answer.
UNREACHABLE = (
    "connect: connection refused",
    "no route to host",
    "i/o timeout",
    "TLS handshake timeout",
    "connection reset by peer",
)
# A request to the Kubernetes API itself, as the provider's errors quote it: `Patch
# "https://<server>/apis/apps/v1/...": dial tcp ...`. A pod's image pull quotes its
# registry's URL (`/v2/...`) with the same network errors, and is the workload's own fault.
API_REQUEST = re.compile(r'"https?://[^/"\s]+/(?:api|apis|openapi|version)(?:[/?"]|$)')
API_UNAVAILABLE = "the server is currently unable to handle the request"
PARALLEL = 32
"""Steps in flight at once. The engine's default is 4 per CPU, 8 on a 2-core CI runner, and
every awaited StatefulSet, Deployment and Job holds a slot while it waits for readiness
without using the CPU; a large stack's node sets then queue behind each other."""
PARALLEL_FLAG = re.compile(r"-p=?\d+")
CLAIM_TYPE = "kubernetes:core/v1:PersistentVolumeClaim"
WORKLOAD_TYPES = {"kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:Deployment"}
# The component a workload belongs to, by its parent's type in the URN, and that
# component's section of the stack file.
SECTIONS = {
    "elk-stack:index:ElasticsearchNode": "elasticsearch",
    "elk-stack:index:LogstashPipeline": "logstash",
    "elk-stack:index:KibanaUi": "kibana",
}
STORAGE_KEYS = {
    "elasticsearch": "elasticsearch.storage.storageClass (a node set's: nodeSets[].storage.storageClass)",
    "logstash": "logstash.queue.storage.storageClass",
}


@dataclass(frozen=True)
class StuckWorkload:
    """A workload whose `up` failed: what the engine calls it and what the cluster does."""

    kind: str
    name: str
    namespace: str
    section: str


@dataclass(frozen=True)
class ObjectWarning:
    """The newest Warning event of one object."""

    kind: str
    name: str
    reason: str
    message: str


def stuck_workloads(events: list[dict[str, Any]]) -> list[StuckWorkload]:
    """The StatefulSets and Deployments whose step failed, from `pulumi up --event-log`."""
    inputs: dict[str, dict[str, Any]] = {}
    failed: list[str] = []
    for event in events:
        pre = (event.get("resourcePreEvent") or {}).get("metadata") or {}
        if pre.get("type") in WORKLOAD_TYPES:
            inputs[pre["urn"]] = (pre.get("new") or {}).get("inputs") or {}
        failure = (event.get("resOpFailedEvent") or {}).get("metadata") or {}
        if failure.get("type") in WORKLOAD_TYPES and failure["urn"] not in failed:
            failed.append(failure["urn"])
    return [_workload(urn, inputs.get(urn, {})) for urn in failed]


def _workload(urn: str, inputs: dict[str, Any]) -> StuckWorkload:
    """A failed workload's Kubernetes name and namespace (from its inputs) and config section."""
    types = urn.split("::")[2].split("$")
    metadata = inputs.get("metadata") or {}
    parent = types[-2] if len(types) > 1 else ""
    return StuckWorkload(
        kind=types[-1].rsplit(":", 1)[-1],
        name=str(metadata.get("name", urn.rsplit("::", 1)[-1])),
        namespace=str(metadata.get("namespace", "")),
        section=SECTIONS.get(parent, "the workload's section"),
    )


def made_by(workload: StuckWorkload) -> re.Pattern[str]:
    """The names of what a workload makes, to pick its objects' events out of the namespace's.

    A StatefulSet's pods are `<name>-0` and its claims `<template>-<name>-0`; a Deployment's
    ReplicaSets are `<name>-<hash>` and its pods `<name>-<hash>-<id>`.

    Ordinals are digits only, so `elk-elasticsearch` does not claim the pods of a node set
    named `elk-elasticsearch-hot`.
    """
    name = re.escape(workload.name)
    if workload.kind == "StatefulSet":
        return re.compile(rf"^(?:[a-z0-9]+-)?{name}(?:-[0-9]+)?\Z")
    return re.compile(rf"^{name}(?:-[a-z0-9]+){{0,2}}\Z")


def warnings_of(workload: StuckWorkload, events: list[dict[str, Any]]) -> list[ObjectWarning]:
    """The newest Warning event of each object of the workload: itself, its pods, claims, ReplicaSets.

    Every object the workload makes is named after it: pods `<name>-0`, claims
    `data-<name>-0`, ReplicaSets `<name>-<hash>`.
    """
    mine = made_by(workload)
    newest: dict[tuple[str, str], tuple[str, ObjectWarning]] = {}
    for event in events:
        involved = event.get("involvedObject") or {}
        kind, name = str(involved.get("kind", "")), str(involved.get("name", ""))
        if event.get("type") != "Warning" or not mine.match(name):
            continue
        when = str(event.get("lastTimestamp") or event.get("eventTime") or "")
        warning = ObjectWarning(
            kind, name, str(event.get("reason", "")), str(event.get("message", "")).strip()
        )
        if (kind, name) not in newest or newest[(kind, name)][0] <= when:
            newest[(kind, name)] = (when, warning)
    return [warning for _, warning in sorted(newest.values(), key=lambda item: item[0])]


def likely_key(section: str, warning: ObjectWarning) -> str:
    """The stack file key most likely at fault for one Warning, and what to do about it."""
    text = f"{warning.reason}: {warning.message}".lower()
    storage = STORAGE_KEYS.get(section, "storageClass")
    if "storageclass" in text and "not found" in text:
        return (
            f"{storage}, or the top-level storageClass: no StorageClass has that name "
            "(docs/troubleshooting.md says how to learn the names without cluster rights)"
        )
    if "exceeded quota" in text:
        return (
            f"{section}.resources or {section}.replicas: the namespace's ResourceQuota refuses the pod; "
            "lower them or ask for a larger quota"
        )
    if "limitrange" in text or ("maximum" in text and "per container" in text):
        return f"{section}.resources: a LimitRange of the namespace refuses the pod's requests or limits"
    if "insufficient" in text or "didn't match" in text or "untolerated taint" in text:
        return f"{section}.resources.requests: no node has room for the pod as it is sized"
    if "imagepull" in text or "pull image" in text or "errimage" in text:
        return "version or imagePullSecrets: the image cannot be pulled"
    if warning.kind == "PersistentVolumeClaim" or "persistentvolumeclaim" in text:
        return f"{storage}: the claim cannot be provisioned"
    return "podReadyTimeout, if the pod only needs longer to become Ready; otherwise the reason above"


def unready_pods(workload: StuckWorkload, pods: list[dict[str, Any]]) -> list[ObjectWarning]:
    """The workload's pods that are not Ready, with what their status says.

    A pod whose readiness never passes may leave no Warning event (kwok's pods leave none;
    a real kubelet reports `Unhealthy`), so the pod's own conditions are the reason of last
    resort: the first condition that is not True, and a container's waiting reason.
    """
    mine, found = made_by(workload), []
    for pod in pods:
        name, status = str(pod["metadata"]["name"]), pod.get("status") or {}
        conditions = {c.get("type"): c for c in status.get("conditions") or []}
        if not mine.match(name) or (conditions.get("Ready") or {}).get("status") == "True":
            continue
        failing: dict[str, Any] = next((c for c in conditions.values() if c.get("status") != "True"), {})
        waiting = [
            str(container["state"]["waiting"].get("reason"))
            for container in status.get("containerStatuses") or []
            if (container.get("state") or {}).get("waiting")
        ]
        detail = ": ".join(str(part) for part in (failing.get("reason"), failing.get("message")) if part)
        detail = "; ".join([detail or "no condition reported", *waiting])
        found.append(ObjectWarning("Pod", name, f"{status.get('phase', 'Pending')}, not Ready", detail))
    return found


def explain(workload: StuckWorkload, warnings: list[ObjectWarning], pods: list[ObjectWarning]) -> str:
    """The message for one workload that did not become Ready in time.

    Each object's newest Warning event comes first; a pod not Ready that has no event of
    its own is reported by its status, with the command that shows its log.
    """
    lines = [
        f"make up: {workload.kind} {workload.name} did not become Ready within its wait (podReadyTimeout)."
    ]
    warned = {warning.name for warning in warnings}
    silent = [pod for pod in pods if pod.name not in warned]
    for warning in [*warnings, *silent]:
        lines.append(f"  {warning.kind} {warning.name}: {warning.reason}: {warning.message}")
        lines.append(f"    most likely at fault: {likely_key(workload.section, warning)}")
        if warning in silent and warning.reason.startswith("Running"):
            lines.append(
                f"    its log says why: kubectl logs --namespace {workload.namespace} {warning.name}"
            )
    if not warnings and not silent:
        lines.append(
            "  No pod of it exists and nothing reports a Warning event: see the engine's output above."
        )
    lines.append(
        f"  The next `make up` picks up where this one stopped once that is fixed ({DOCUMENTED_AT})."
    )
    return "\n".join(lines)


@dataclass(frozen=True)
class Claim:
    """A claim of the stack: its URN in the state, and its object in the cluster."""

    urn: str
    name: str
    namespace: str


def replacement_refused(events: list[dict[str, Any]]) -> bool:
    """Whether protection stopped the replacement of a claim (its storage class changed)."""
    for event in events:
        diagnostic = event.get("diagnosticEvent") or {}
        message = str(diagnostic.get("message", ""))
        refused = "unable to replace resource" in message and ":PersistentVolumeClaim::" in message
        if diagnostic.get("severity") == "error" and refused:
            return True
    return False


def stack_claims(state: dict[str, Any]) -> list[Claim]:
    """The claims the exported state (`pulumi stack export`) holds, with their live names."""
    claims = []
    for resource in state.get("deployment", {}).get("resources") or []:
        if resource.get("type") != CLAIM_TYPE:
            continue
        metadata = (resource.get("outputs") or {}).get("metadata") or {}
        claims.append(Claim(resource["urn"], str(metadata.get("name")), str(metadata.get("namespace"))))
    return claims


def claim_owner(claim: Claim) -> str:
    """The StatefulSet whose pods use a claim: `<template>-<statefulset>-<ordinal>`."""
    return claim.name.split("-", 1)[1].rsplit("-", 1)[0]


def unbound_claims_hint(stack: str, claims: list[Claim], statefulsets: list[str]) -> str:
    """What to run when protection stops replacing claims that never bound, so hold no data.

    A claim's storage class cannot change in place. A claim that is still Pending never had a
    volume, so making it anew loses nothing. Its StatefulSet goes first (its pods never ran),
    or its controller would make the claim again from its old template; `--refresh` lets
    the engine see both gone, and `up` makes them again with the new class, protected.
    """
    namespace = claims[0].namespace
    steps = (
        [f"  kubectl delete statefulset --namespace {namespace} {' '.join(statefulsets)}"]
        if statefulsets
        else []
    )
    steps.append(
        f"  kubectl delete persistentvolumeclaim --namespace {namespace} {' '.join(c.name for c in claims)}"
    )
    steps.append(f"  make up STACK={stack} ARGS=--refresh")
    return (
        f"make up: {len(claims)} claims must be made anew (a claim's storage class cannot change) and are "
        "protected. They are Pending: they never had a volume, so they hold no data and nothing is lost "
        f"by making them again ({DOCUMENTED_AT}):\n" + "\n".join(steps)
    )


def pending_claims(claims: list[Claim]) -> list[Claim] | str:
    """The claims among these that the cluster still shows Pending (never bound)."""
    if not claims:
        return []
    live = kubectl_json(claims[0].namespace, "persistentvolumeclaims")
    if isinstance(live, str):
        return live
    phases = {
        item["metadata"]["name"]: (item.get("status") or {}).get("phase") for item in live.get("items") or []
    }
    return [claim for claim in claims if phases.get(claim.name) == "Pending"]


def explain_refused_replacement(stack: str, cwd: Path) -> str:
    """The way on when protection refuses to replace claims: commands, if they hold no data."""
    state = exported_state(stack, cwd)
    if isinstance(state, str):
        return f"make up: could not read the stack's state: {state}"
    pending = pending_claims(stack_claims(state))
    if isinstance(pending, str):
        return f"make up: a claim must be made anew and is protected; {pending}."
    if not pending:
        return (
            "make up: a claim must be made anew (its storage class changed) and is protected. The "
            f"stack's claims are bound and may hold data: move the data first ({DOCUMENTED_AT})."
        )
    live = kubectl_json(pending[0].namespace, "statefulsets")
    existing = (
        set() if isinstance(live, str) else {item["metadata"]["name"] for item in live.get("items") or []}
    )
    owners = sorted({claim_owner(claim) for claim in pending} & existing)
    return unbound_claims_hint(stack, pending, owners)


def read_event_log(path: Path) -> list[dict[str, Any]]:
    """The engine's events, one JSON object a line."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def explain_stuck(workloads: list[StuckWorkload]) -> list[str]:
    """One message per workload that did not become Ready, from one read of the namespace.

    The workloads are one stack's, so one namespace's: its events and pods are read once.
    """
    if not workloads:
        return []
    read = kubectl_json(workloads[0].namespace, "events,pods")
    if isinstance(read, str):
        return [f"make up: {w.kind} {w.name} did not become Ready; {read}." for w in workloads]
    items = read.get("items") or []
    events = [item for item in items if item.get("kind") == "Event"]
    pods = [item for item in items if item.get("kind") == "Pod"]
    return [explain(w, warnings_of(w, events), unready_pods(w, pods)) for w in workloads]


def run_showing_errors(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run a command with its output shown as it comes; its exit status and what it wrote to stderr.

    A Ctrl-C reaches the whole process group: `pulumi up` then stops gracefully (it ends
    the steps in flight and saves the state), so this process ignores it and waits.
    """
    process = subprocess.Popen(command, cwd=cwd, env=env, stderr=subprocess.PIPE, text=True)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        assert process.stderr is not None
        written = []
        for line in process.stderr:
            sys.stderr.write(line)
            written.append(line)
        return process.wait(), "".join(written)
    finally:
        signal.signal(signal.SIGINT, previous)


def locked_hint(stack: str) -> str:
    """What to run when the stack's lock outlived the `up` that took it."""
    return (
        "make up: an earlier `pulumi up` of this stack did not end (it was killed, or its machine "
        f"stopped) and its lock is still held. If no other `up` of {stack} is running, run "
        f"`make recover STACK={stack}`: it releases the lock (`pulumi cancel`), deploys as `make up` "
        f"does, and then clears what the killed run left pending ({RECOVERY_DOC})."
    )


def with_parallel(flags: list[str], env: Mapping[str, str] = os.environ) -> list[str]:
    """The flags with `--parallel` set to PARALLEL, unless the user set it.

    By flag (`-p 4`, `--parallel=4`) or by PULUMI_PARALLEL, which the engine reads when
    no flag is given and only when it is a number above 0 (`defaultParallel` in pulumi's
    cmd/pulumi/operations/up.go).
    """
    if env.get("PULUMI_PARALLEL", "").strip().isdigit() and int(env["PULUMI_PARALLEL"]) > 0:
        return flags
    if any(
        flag in ("-p", "--parallel") or flag.startswith("--parallel=") or PARALLEL_FLAG.fullmatch(flag)
        for flag in flags
    ):
        return flags
    return [f"--parallel={PARALLEL}", *flags]


def engine_errors(events: list[dict[str, Any]]) -> str:
    """The engine's error diagnostics, which `pulumi up` prints on stdout, not stderr."""
    diagnostics = (event.get("diagnosticEvent") or {} for event in events)
    return "\n".join(str(d.get("message", "")) for d in diagnostics if d.get("severity") == "error")


def unreachable_api(errors: str) -> str | None:
    """The engine's first error line that says the API server did not answer, if any.

    Only a request to the Kubernetes API counts: a pod that cannot pull its image reports
    the same network errors for its registry, and that is for `explain_stuck` to name.
    """
    return next((line.strip() for line in errors.splitlines() if api_unreachable(line)), None)


def api_unreachable(line: str) -> bool:
    """Whether one error line is a request to the Kubernetes API that got no answer."""
    return API_UNAVAILABLE in line or (
        API_REQUEST.search(line) is not None and any(text in line for text in UNREACHABLE)
    )


def unreachable_hint(stack: str, line: str) -> str:
    """What to do when the deploy failed because the API server went away, not because of the stack.

    Without it, the workload whose request failed would be explained as one that never
    became Ready, from events that cannot be read either.
    """
    return (
        f"make up: the Kubernetes API server did not answer during the deploy ({line}). The stack is "
        "not at fault, and the engine saved what it did: once the API server answers again "
        f"(`kubectl get pods` works), run `make up STACK={stack}`, which carries on from there "
        f"({UNREACHABLE_DOC})."
    )


def main(argv: list[str] | None = None, ownership: bool = True) -> int:
    """Run `pulumi up` (with make up's `--parallel`); after a failure, say what to do.

    An API server that did not answer is named first, since the rest could not be read;
    otherwise each workload that did not become Ready is explained, and a claim replacement
    that protection refused. `ownership` off skips the check for another stack's objects
    (`make recover`).
    """
    args, flags = stack_arguments("tools.up", __doc__ or "", argv)
    refused = refusal(args.stack, args.cwd, ownership)
    if refused:
        print(refused, file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="elk-stack-up-") as scratch:
        log = Path(scratch) / "events.jsonl"
        command = ["pulumi", "up", "--stack", args.stack, "--event-log", str(log), *with_parallel(flags)]
        # `--event-log` exists only with PULUMI_DEBUG_COMMANDS set; Pulumi's own Automation
        # API sets both for every `up` it runs (pulumi/automation/_stack.py).
        env = {**os.environ, "PULUMI_DEBUG_COMMANDS": "true"}
        returncode, errors = run_showing_errors(command, args.cwd, env)
        if returncode == 0:
            return 0
        engine_events = read_event_log(log)
    if LOCKED in errors:
        print(locked_hint(args.stack), file=sys.stderr)
    unreachable = unreachable_api(f"{errors}\n{engine_errors(engine_events)}")
    if unreachable is not None:
        print(unreachable_hint(args.stack, unreachable), file=sys.stderr)
        return returncode
    for message in explain_stuck(stuck_workloads(engine_events)):
        print(message, file=sys.stderr)
    if replacement_refused(engine_events):
        print(explain_refused_replacement(args.stack, args.cwd), file=sys.stderr)
    return returncode


if __name__ == "__main__":
    sys.exit(main())
