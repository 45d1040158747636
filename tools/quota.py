"""What a stack needs of its namespace's ResourceQuotas, and what is missing, before anything is deployed.

A quota that is too small does not fail `pulumi up`: the API server refuses each pod,
the controllers retry, and the provider waits out its timeout. A namespace user may read
the namespace's quotas, and the offline render knows every pod, claim and object the
stack will have, so `make up` compares the two first (`tools/up.py`).

What the stack needs: every workload's pods at their replicas, plus the two largest Job
pods (the setup Job and the topology `settle` Job run side by side once the node sets are
Ready), every claim, every object. What it may use: the quota's
hard limit, less what is used, plus what the stack's own objects already use (an update
replaces them, it does not add to them). Pods count as the scheduler and quota do:
the larger of the containers' sum and the largest init container.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from components.configuration.units import parse_quantity
from components.specs.common import PART_OF

Manifest = dict[str, Any]
PART_OF_LABEL = "app.kubernetes.io/part-of"
Usage = defaultdict[str, Decimal]
POD_RESOURCES = ("cpu", "memory", "ephemeral-storage")
WORKLOAD_KINDS = {"StatefulSet", "Deployment"}
# The setup Job and the topology `settle` Job both start once the node sets are Ready.
JOBS_AT_ONCE = 2
# Quota names that mean the same as another (`cpu` is `requests.cpu`).
ALIASES = {
    "cpu": "requests.cpu",
    "memory": "requests.memory",
    "ephemeral-storage": "requests.ephemeral-storage",
}
# `count/<resource>.<group>`, as object count quotas name them.
PLURALS = {
    "Secret": "secrets",
    "ConfigMap": "configmaps",
    "Service": "services",
    "ServiceAccount": "serviceaccounts",
    "PersistentVolumeClaim": "persistentvolumeclaims",
    "Pod": "pods",
    "StatefulSet": "statefulsets.apps",
    "Deployment": "deployments.apps",
    "Job": "jobs.batch",
    "Ingress": "ingresses.networking.k8s.io",
    "NetworkPolicy": "networkpolicies.networking.k8s.io",
    "PodDisruptionBudget": "poddisruptionbudgets.policy",
}
COUNTED = {
    "Service": "services",
    "Secret": "secrets",
    "ConfigMap": "configmaps",
    "PersistentVolumeClaim": "persistentvolumeclaims",
}
_CLASS_KEY = re.compile(
    r"^(?P<class>.+)\.storageclass\.storage\.k8s\.io/(?P<what>requests\.storage|persistentvolumeclaims)$"
)
# The keys of the stack file a shortfall in each quota resource points to.
KEYS = {
    "pods": "the components' replicas",
    "requests.cpu": "the components' resources.requests.cpu",
    "limits.cpu": "the components' resources.limits.cpu",
    "requests.memory": "the components' resources.requests.memory",
    "limits.memory": "the components' resources.limits.memory",
    "persistentvolumeclaims": "elasticsearch replicas and logstash.queue",
    "requests.storage": "elasticsearch.storage.size and logstash.queue.storage.size",
}


@dataclass(frozen=True)
class Shortfall:
    """One quota resource the stack would exceed."""

    quota: str
    resource: str
    hard: Decimal
    used: Decimal
    ours: Decimal
    needed: Decimal

    @property
    def missing(self) -> Decimal:
        """How much more than the quota leaves the stack would need."""
        return self.needed - (self.hard - self.used + self.ours)

    def _text(self, number: Decimal) -> str:
        return _text(self.resource, number)

    def describe(self) -> str:
        """One line: the quota, the resource, its numbers, and the keys to lower."""
        key = KEYS.get(self.resource, "the components' sizes")
        if _CLASS_KEY.match(self.resource):
            key = "the storage sizes and classes"
        return (
            f"ResourceQuota {self.quota}: {self.resource} is limited to {self._text(self.hard)}, "
            f"{self._text(self.used)} in use ({self._text(self.ours)} of it this stack's); the stack "
            f"needs {self._text(self.needed)}: {self._text(self.missing)} more. Lower {key}, or ask "
            "for a larger quota."
        )


def _usage(**amounts: Decimal) -> Usage:
    """A usage: quota resource name to amount, zero where unset."""
    return defaultdict(Decimal, amounts)


def _add(total: Usage, more: Usage) -> None:
    """Add one usage into another."""
    for resource, amount in more.items():
        total[resource] += amount


def _text(resource: str, number: Decimal) -> str:
    """A quantity as a person reads it: CPU in cores or millicores, bytes in Gi or Mi, counts plain."""
    if resource.endswith(("memory", "storage")):
        gib = number / 2**30
        return f"{gib.normalize():f}Gi" if gib >= 1 else f"{int(number / 2**20)}Mi"
    if number == number.to_integral_value():
        return str(int(number))
    return f"{int(number * 1000)}m"


def pod_usage(spec: Manifest) -> Usage:
    """What one pod counts against a quota: `pods` 1, and its effective requests and limits."""
    usage = _usage(pods=Decimal(1))
    for side in ("requests", "limits"):
        for resource in POD_RESOURCES:
            total = sum((_amount(c, side, resource) for c in spec.get("containers") or []), Decimal(0))
            init = max(
                (_amount(c, side, resource) for c in spec.get("initContainers") or []), default=Decimal(0)
            )
            if max(total, init):
                usage[f"{side}.{resource}"] = max(total, init)
    return usage


def _amount(container: Manifest, side: str, resource: str) -> Decimal:
    value = ((container.get("resources") or {}).get(side) or {}).get(resource)
    return parse_quantity(str(value)) if value is not None else Decimal(0)


def claim_usage(claim: Manifest) -> Usage:
    """What one claim counts: itself and its storage, overall and for its class."""
    size = parse_quantity(str(claim["spec"]["resources"]["requests"]["storage"]))
    usage = _usage(**{"requests.storage": size})
    storage_class = claim["spec"].get("storageClassName")
    if storage_class:
        usage[f"{storage_class}.storageclass.storage.k8s.io/requests.storage"] = size
        usage[f"{storage_class}.storageclass.storage.k8s.io/persistentvolumeclaims"] = Decimal(1)
    return usage


def object_usage(manifest: Manifest) -> Usage:
    """What one object counts by its kind: `services`, `count/secrets` and the like."""
    plural = PLURALS.get(manifest["kind"], f"{manifest['kind'].lower()}s")
    usage = _usage(**{f"count/{plural}": Decimal(1)})
    if manifest["kind"] in COUNTED:
        usage[COUNTED[manifest["kind"]]] += 1
    if manifest["kind"] == "Service" and (manifest.get("spec") or {}).get("type") == "LoadBalancer":
        usage["services.loadbalancers"] += 1
    if manifest["kind"] == "PersistentVolumeClaim":
        _add(usage, claim_usage(manifest))
    return usage


def stack_needs(manifests: list[Manifest]) -> Usage:
    """What the rendered stack needs of a quota at its largest: workloads, two Jobs, claims, objects.

    A Deployment's rolling update may add a pod for a while (`maxSurge`); that is not
    counted, as the first deploy, which this check serves most, rolls nothing.
    """
    needs = _usage()
    job_pods = [pod_usage(m["spec"]["template"]["spec"]) for m in manifests if m["kind"] == "Job"]
    for manifest in manifests:
        _add(needs, object_usage(manifest))
        if manifest["kind"] in WORKLOAD_KINDS:
            for _ in range(int(manifest["spec"].get("replicas", 1))):
                _add(needs, pod_usage(manifest["spec"]["template"]["spec"]))
    job_pods.sort(key=lambda usage: (usage["requests.memory"], usage["requests.cpu"]), reverse=True)
    for job_pod in job_pods[:JOBS_AT_ONCE]:
        _add(needs, job_pod)
    return needs


def live_usage(objects: list[Manifest]) -> Usage:
    """What the stack's live objects count against a quota; a finished pod counts nothing."""
    usage = _usage()
    for manifest in objects:
        if manifest["kind"] != "Pod":
            _add(usage, object_usage(manifest))
        elif (manifest.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
            _add(usage, pod_usage(manifest["spec"]))
    return usage


def shortfalls(quotas: list[Manifest], needs: Usage, ours: Usage) -> list[Shortfall]:
    """Each quota resource whose hard limit, less others' use, is below what the stack needs."""
    found = []
    for quota in quotas:
        hard = (quota.get("status") or {}).get("hard") or (quota.get("spec") or {}).get("hard") or {}
        used = (quota.get("status") or {}).get("used") or {}
        for resource, limit in sorted(hard.items()):
            key = ALIASES.get(resource, resource)
            shortfall = Shortfall(
                quota=quota["metadata"]["name"],
                resource=resource,
                hard=parse_quantity(str(limit)),
                used=parse_quantity(str(used.get(resource, "0"))),
                ours=Decimal(ours.get(key, 0)),
                needed=Decimal(needs.get(key, 0)),
            )
            if shortfall.missing > 0:
                found.append(shortfall)
    return found


def our_objects(live: list[Manifest], manifests: list[Manifest]) -> list[Manifest]:
    """The live objects that are the stack's: those the render names, and the pods of its workloads."""
    names = {(manifest["kind"], manifest["metadata"]["name"]) for manifest in manifests}
    return [
        item
        for item in live
        if (item["kind"], item["metadata"]["name"]) in names
        or (item["kind"] == "Pod" and (item["metadata"].get("labels") or {}).get(PART_OF_LABEL) == PART_OF)
    ]
