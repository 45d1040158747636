"""Builders every component shares: names, labels, resources, security context, checksums.

Object names feed DNS names and PVC names, so they are derived here and nowhere else. The
spec builders are small pure functions returning plain dicts, trivial to test, which the
components pass straight to pulumi-kubernetes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml

from components.configuration import Resources, Storage
from components.configuration.units import parse_quantity

PART_OF = "elk-stack"
INSTANCE = "elk"
CHECKSUM_ANNOTATION = "elk-stack/config-checksum"
CA_CHECKSUM_ANNOTATION = "elk-stack/ca-checksum"
CREDENTIALS_ANNOTATION = "elk-stack/credentials-revision"
CA_ROTATION_ANNOTATION = "elk-stack/ca-rotation"
UID = 1000


@dataclass(frozen=True)
class Names:
    """Kubernetes object names of one component, e.g. `elk-elasticsearch-config`."""

    app: str

    @property
    def workload(self) -> str:
        """The StatefulSet or Deployment; also the client Service."""
        return f"{INSTANCE}-{self.app}"

    @property
    def headless(self) -> str:
        """The headless Service that gives StatefulSet pods stable DNS names."""
        return f"{self.workload}-headless"

    @property
    def config(self) -> str:
        """The ConfigMap holding the component's settings files."""
        return f"{self.workload}-config"

    def suffixed(self, suffix: str) -> str:
        """A further object of the component, e.g. `elk-elasticsearch-certs`."""
        return f"{self.workload}-{suffix}"

    def pod(self, ordinal: int) -> str:
        """The name of a StatefulSet pod, which is also its host name."""
        return f"{self.workload}-{ordinal}"

    def claim(self, template: str, ordinal: int) -> str:
        """The PVC name the StatefulSet controller looks for: `<claim>-<statefulset>-<ordinal>`."""
        return f"{template}-{self.workload}-{ordinal}"


@dataclass(frozen=True)
class Target:
    """Where and what every component deploys: namespace, Elastic version, how images are pulled."""

    namespace: pulumi.Input[str]
    version: str
    pull_secrets: list[str]
    pull_policy: str = "Always"
    # `podReadyTimeout` in seconds, or None for each component's own default.
    pod_ready_seconds: int | None = None

    @property
    def version_tuple(self) -> tuple[int, ...]:
        """The version as numbers, for comparisons such as `>= (8, 16)`."""
        return tuple(int(part) for part in self.version.split("."))


def selector_labels(app: str) -> dict[str, str]:
    """Labels a selector matches on; they never include the version, as selectors are immutable."""
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/instance": INSTANCE}


def labels(app: str, component: str, version: str) -> dict[str, str]:
    """The `app.kubernetes.io/*` recommended labels for every object of a component."""
    return {
        **selector_labels(app),
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/version": version,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
    }


# Every object is applied with force: see `metadata`.
APPLY_ANNOTATIONS = {"pulumi.com/patchForce": "true"}


def metadata(name: str, namespace: pulumi.Input[str], object_labels: dict[str, str]) -> dict[str, Any]:
    """Object metadata with an explicit name, so Pulumi does not auto-name it with a suffix.

    pulumi-kubernetes applies each object with a server-side apply field manager of its
    own, `pulumi-kubernetes-<random>`, drawn when it creates the object and kept in the
    state. An `up` killed after creating an object leaves it co-owned by a manager no state
    holds; the next `up` creates it again under a new one, and the first later change of a
    field the two share (the version label) failed as an apply conflict. `patchForce` makes
    each apply take over the fields it sets from any other manager: the program is the
    source of truth for every field it sets (a `kubectl edit` of one is undone by the next
    `up`). One fixed manager for every object was tried and dropped: a stack deployed
    before would change manager on its next `up`, and the provider then applied a
    StatefulSet without its claim templates (`ignoreChanges`), which the API server refuses.
    `make up` keeps one stack from taking over another's objects (docs/troubleshooting.md).
    """
    return {
        "name": name,
        "namespace": namespace,
        "labels": object_labels,
        "annotations": dict(APPLY_ANNOTATIONS),
    }


def annotated(object_metadata: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
    """The metadata with more annotations, keeping those it has."""
    return {**object_metadata, "annotations": {**object_metadata.get("annotations", {}), **annotations}}


def job_metadata(name: str, namespace: pulumi.Input[str], object_labels: dict[str, str]) -> dict[str, Any]:
    """A Job's metadata: `metadata`, and replaced by the next `pulumi up` if it failed.

    pulumi-kubernetes otherwise waits again for the failed Job, which never completes
    (pulumi/pulumi-kubernetes#856); `pulumi.com/replaceUnready` runs it again instead.
    """
    return annotated(metadata(name, namespace, object_labels), {"pulumi.com/replaceUnready": "true"})


WAIT_FOR_ANNOTATION = "pulumi.com/waitFor"


def rolled_out_metadata(
    name: str, namespace: pulumi.Input[str], object_labels: dict[str, str], replicas: int
) -> dict[str, Any]:
    """An Elasticsearch StatefulSet's metadata, with a wait that holds `pulumi up` until its roll is done.

    The pinned provider (pulumi-kubernetes 4.25.0) reports a StatefulSet updated from a
    status that may still describe the old generation (pulumi/pulumi-kubernetes#3329):
    `up` then went on to the next node set, Logstash and Kibana while the new pod was
    still starting. With `pulumi.com/waitFor` its JSONPath conditions replace that await,
    and each first waits for `status.observedGeneration` to reach the new generation
    (provider/pkg/await/condition/jsonpath.go): then every replica updated and Ready is
    this roll's, not the last one's.

    Only where the order depends on it (node sets, then Logstash and Kibana): when an update
    changes the metadata alone (no new generation), the provider may keep a stale watch
    event of the same generation as the object's state, and the next preview shows a
    `~metadata` diff that the next `up` clears (seen once in CI on Logstash, which nothing
    waits for, so Logstash keeps the provider's own await).
    """
    conditions = [
        f"jsonpath={{.status.{field}}}={replicas}" for field in ("updatedReplicas", "readyReplicas")
    ]
    return annotated(metadata(name, namespace, object_labels), {WAIT_FOR_ANNOTATION: json.dumps(conditions)})


@dataclass(frozen=True)
class Scratch:
    """A container's default ephemeral storage: what it writes outside its volumes, as quantities.

    Kubernetes counts a container's writable layer, its emptyDirs and its log files against
    `ephemeral-storage`; a pod above its limit is evicted, and a node short of disk evicts
    the pods furthest above their requests first. Each component sizes its own from what it
    writes (docs/operations.md, Ephemeral storage).
    """

    request: str
    limit: str


def container_resources(resources: Resources, scratch: Scratch) -> dict[str, dict[str, str]]:
    """Requests and limits for a container: the user's amounts, and `scratch` where they set no disk."""

    def amounts(side: Any, default: str) -> dict[str, str]:
        pairs = (("cpu", side.cpu), ("memory", side.memory))
        disk = {"ephemeral-storage": side.ephemeral_storage or default}
        return {k: v for k, v in pairs if v is not None} | disk

    requests = amounts(resources.requests, scratch.request)
    # A default limit below a request the user set rises to that request, as memory's does.
    limit = max(scratch.limit, requests["ephemeral-storage"], key=parse_quantity)
    return {"requests": requests, "limits": amounts(resources.limits, limit)}


def pod_security_context() -> dict[str, Any]:
    """Non-root uid 1000, with fsGroup so a fresh volume is writable by the process."""
    return {
        "runAsUser": UID,
        "runAsGroup": UID,
        "runAsNonRoot": True,
        "fsGroup": UID,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    """PodSecurity "restricted": no privilege escalation, no capabilities, non-root; and a read-only root.

    Each component mounts an emptyDir for every path its program writes (Elasticsearch
    writes its keystore into a copy of its config directory), so nothing in the image can
    be changed at run time.
    """
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


ENV_FILES_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "env-from-files.sh"
ENV_FILES_DIR = "/mnt/elk-stack/env"
ENV_FILES_VOLUME = "env-files"


def env_files(
    sources: Sequence[tuple[pulumi.Input[str], Mapping[str, str]]],
    volumes: list[dict[str, Any]],
    mounts: list[dict[str, Any]],
) -> dict[str, Any]:
    """Mount Secret keys as files named after the variables a program reads; the env entry naming them.

    `sources` pairs each Secret with its keys and the variable each becomes. The pod spec
    then holds no credential in its env, only ENV_FILES_DIR (a path), and
    scripts/env-from-files.sh turns the files into variables when the container or a
    probe starts (`with_env_files`).
    """
    projected = [
        {"secret": {"name": secret, "items": [{"key": k, "path": v} for k, v in keys.items()]}}
        for secret, keys in sources
    ]
    volumes.append({"name": ENV_FILES_VOLUME, "projected": {"sources": projected, "defaultMode": 0o440}})
    mounts.append({"name": ENV_FILES_VOLUME, "mountPath": ENV_FILES_DIR, "readOnly": True})
    return {"name": "ENV_FILES_DIR", "value": ENV_FILES_DIR}


def with_env_files(script_dir: str, command: list[str]) -> list[str]:
    """`command`, run by scripts/env-from-files.sh (in `script_dir`) with the credentials as variables."""
    return ["bash", f"{script_dir}/{ENV_FILES_SCRIPT.name}", *command]


def digest(*parts: str) -> str:
    """A SHA-256 over text, for annotations that must change when their inputs change."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


class _NoAliasDumper(yaml.SafeDumper):
    """PyYAML writes a list used twice as an anchor and an alias (`&id001`, `*id001`).

    Elasticsearch's YAML reader does not resolve aliases: `*id001` would become a file
    name. Settings files therefore repeat the value instead.
    """

    def ignore_aliases(self, data: Any) -> bool:
        return True


def settings_yaml(settings: dict[str, Any]) -> str:
    """A settings file (`elasticsearch.yml`, `kibana.yml`, ...), keys sorted, no YAML aliases."""
    return yaml.dump(settings, Dumper=_NoAliasDumper, sort_keys=True)


def config_checksum(files: dict[str, str]) -> str:
    """A digest of the settings a pod mounts; in the pod template it rolls exactly those pods."""
    return digest(json.dumps(files, sort_keys=True))


def pod_annotations(
    files: dict[str, str] | pulumi.Output[dict[str, str]],
    ca_checksum: pulumi.Input[str] | None = None,
    credentials_revision: pulumi.Input[str] | None = None,
) -> dict[str, Any]:
    """Checksums that roll a pod when its settings, the CA it trusts or its password change.

    Processes read these only at start, so without a roll a rotated password or CA would
    reach the pods only at their next unrelated restart. Each value stays its own Output:
    an Output nested inside another's `apply` result makes the Pulumi SDK (3.272) add its
    dependencies, in place, to the outer Output's shared set, so other resources using
    that Output would gain spurious, timing-dependent dependencies.
    """
    checksum = files.apply(config_checksum) if isinstance(files, pulumi.Output) else config_checksum(files)
    annotations: dict[str, Any] = {CHECKSUM_ANNOTATION: checksum}
    if ca_checksum is not None:
        annotations[CA_CHECKSUM_ANNOTATION] = ca_checksum
    if credentials_revision is not None:
        annotations[CREDENTIALS_ANNOTATION] = credentials_revision
    return annotations


def claim_spec(storage: Storage, access_mode: str = "ReadWriteOnce") -> dict[str, Any]:
    """The PVC spec shared by the explicit claims and the StatefulSet's claim template."""
    spec: dict[str, Any] = {
        "accessModes": [access_mode],
        "resources": {"requests": {"storage": storage.size}},
    }
    if storage.storage_class:
        spec["storageClassName"] = storage.storage_class
    return spec


def pod_spec(
    containers: list[dict[str, Any]],
    volumes: list[dict[str, Any]],
    target: Target,
    service_account_name: pulumi.Input[str],
    grace_seconds: int = 30,
) -> dict[str, Any]:
    """A pod spec with the settings every workload shares: non-root, own account, no token.

    Every container pulls by `imagePullPolicy`, the config's: Always by default, so a node
    checks the tag's digest at each start and never runs a stale image of a re-pushed tag.
    """
    for container in containers:
        container["imagePullPolicy"] = target.pull_policy
    spec: dict[str, Any] = {
        "serviceAccountName": service_account_name,
        "automountServiceAccountToken": False,
        "securityContext": pod_security_context(),
        "terminationGracePeriodSeconds": grace_seconds,
        # Service links inject an env var per Service in the namespace, which can collide
        # with the images' own settings variables (e.g. KIBANA_*); nothing here uses them.
        "enableServiceLinks": False,
        "containers": containers,
        "volumes": volumes,
    }
    if target.pull_secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in target.pull_secrets]
    return spec


def host_anti_affinity(pod_selector: dict[str, str], required: bool = False) -> dict[str, Any]:
    """Keep a workload's pods on different hosts, so one host failure takes one pod at most.

    Preferred (soft) unless `required`: a namespace on a small cluster must still schedule.
    """
    term = {"labelSelector": {"matchLabels": pod_selector}, "topologyKey": "kubernetes.io/hostname"}
    if required:
        return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    return {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": term}]
        }
    }


def liveness_probe(check: dict[str, Any]) -> dict[str, Any]:
    """Restart a container only when its process stops answering on its own port for a minute.

    Never on the health of anything else: a red cluster, or Elasticsearch away for Kibana
    and Logstash, restarted everywhere at once would only make the outage longer. The
    startup probe holds this off until the process first answered.
    """
    return {**check, "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 6}


def pre_stop_wait(seconds: int) -> dict[str, Any]:
    """A `lifecycle` that keeps serving for a while after the pod is told to stop.

    Removing a terminating pod from Service endpoints reaches kube-proxy and ingress
    controllers only after a delay; until then they still send it new connections, which a
    process that stopped at once would refuse. ECK waits 50 s before stopping Elasticsearch
    the same way. The wait counts against `terminationGracePeriodSeconds`.
    """
    return {"preStop": {"exec": {"command": ["sleep", str(seconds)]}}}


def claim_retention() -> dict[str, str]:
    """Keep claims when the StatefulSet is deleted or scaled down: they hold data."""
    return {"whenDeleted": "Retain", "whenScaled": "Retain"}


def claim_template(template: str, storage: Storage, app: str) -> dict[str, Any]:
    """The StatefulSet claim template matching `ordinal_claims`; it names the pod's volume.

    Claim templates are immutable, and a change to one replaces the whole StatefulSet, so
    it carries only the stable selector labels, never the version.
    """
    return {"metadata": {"name": template, "labels": selector_labels(app)}, "spec": claim_spec(storage)}


# pulumi-kubernetes waits 10 minutes for a StatefulSet or Deployment to be Ready by
# default (its API docs: "If the StatefulSet has not reached a Ready state after 10
# minutes, it will time out"); a rollout that restarts one pod at a time needs more.
DEFAULT_AWAIT_MINUTES = 10


def rollout_minutes(pods: int, minutes_per_pod: int) -> int:
    """How long a rollout may take: every pod restarted in turn, never below the provider's default."""
    return max(DEFAULT_AWAIT_MINUTES, pods * minutes_per_pod)


def rollout_timeouts(
    pods: int, minutes_per_pod: int, seconds_per_pod: int | None = None
) -> pulumi.CustomTimeouts:
    """`customTimeouts` for a workload whose create and update wait on its pods being Ready.

    `seconds_per_pod` is the user's `podReadyTimeout`: it replaces the component's default
    and the provider's 10-minute floor, so a pod that can never start (an unknown storage
    class, a quota) fails `up` when the user chose, not 10 minutes or more later.
    """
    limit = (
        f"{rollout_minutes(pods, minutes_per_pod)}m"
        if seconds_per_pod is None
        else f"{pods * seconds_per_pod}s"
    )
    return pulumi.CustomTimeouts(create=limit, update=limit)
