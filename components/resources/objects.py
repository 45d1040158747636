"""Small objects several components create alike: ServiceAccounts, headless Services, PDBs, data claims.

Their specs come from `components.specs.common`; here they become resources, each a child of
the component that asked for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
from pulumi_kubernetes.core.v1 import PersistentVolumeClaim, Service, ServiceAccount
from pulumi_kubernetes.policy.v1 import PodDisruptionBudget

from components.configuration import Storage
from components.specs.common import Names, annotated, claim_spec, metadata


def service_account(
    parent: pulumi.Resource,
    logical_name: str,
    name: str,
    namespace: pulumi.Input[str],
    object_labels: dict[str, str],
) -> ServiceAccount:
    """A workload's own ServiceAccount; none of them talks to the Kubernetes API."""
    return ServiceAccount(
        logical_name,
        metadata=metadata(name, namespace, object_labels),
        automount_service_account_token=False,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def headless_service(
    parent: pulumi.Resource,
    logical_name: str,
    name: str,
    namespace: pulumi.Input[str],
    object_labels: dict[str, str],
    pod_selector: dict[str, str],
    ports: list[dict[str, Any]],
    publish_not_ready: bool = False,
) -> Service:
    """The headless Service a StatefulSet names: it gives each pod a stable DNS name.

    pulumi-kubernetes (4.25) awaits a headless Service only until its informer reports the
    Service, and keeps that report as the new state: after an update (a new `version`
    label) it can be the object from before, and the next preview shows the update again.
    Skipping the await, which waits for nothing else here, keeps the applied object.
    """
    spec: dict[str, Any] = {"clusterIP": "None", "selector": pod_selector, "ports": ports}
    if publish_not_ready:
        spec["publishNotReadyAddresses"] = True
    return Service(
        logical_name,
        metadata=annotated(metadata(name, namespace, object_labels), {"pulumi.com/skipAwait": "true"}),
        spec=spec,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def unawaited_service(service_metadata: dict[str, Any], service_type: str) -> dict[str, Any]:
    """A client Service's metadata: with `pulumi.com/skipAwait`, unless it is a LoadBalancer.

    pulumi-kubernetes (4.25) holds a Service's create or update until Endpoints exist and
    then a fixed 10 s more; Logstash, Kibana and the Jobs that name the Service waited for
    that, about 7 s of a 14 s qa `up`, although the workloads' own readiness is what the
    deploy waits for (the StatefulSets' waitFor, the Deployment's rollout). A LoadBalancer
    keeps the await: its address is what the user reads from the outputs.
    """
    if service_type == "LoadBalancer":
        return service_metadata
    return annotated(service_metadata, {"pulumi.com/skipAwait": "true"})


def disruption_budget(
    parent: pulumi.Resource,
    logical_name: str,
    name: str,
    namespace: pulumi.Input[str],
    object_labels: dict[str, str],
    pod_selector: dict[str, str],
) -> PodDisruptionBudget:
    """At most one pod of a workload evicted at a time, e.g. while a node is drained."""
    return PodDisruptionBudget(
        logical_name,
        metadata=metadata(name, namespace, object_labels),
        spec={"maxUnavailable": 1, "selector": {"matchLabels": pod_selector}},
        opts=pulumi.ResourceOptions(parent=parent),
    )


def guarded_claim(
    parent: pulumi.Resource,
    logical_name: str,
    name: str,
    storage: Storage,
    namespace: pulumi.Input[str],
    object_labels: dict[str, str],
    access_mode: str = "ReadWriteOnce",
    after: Sequence[pulumi.Resource] = (),
) -> PersistentVolumeClaim:
    """A claim that holds data: `protect` from its storage, always `retain_on_delete`, adoptable.

    `after`: what must pass first, such as the deploy record that refuses a smaller size in
    the stack file's words before the API server refuses the claim in its own.

    `skipAwait`: with a WaitForFirstConsumer class the claim stays Pending until its pod
    exists, and the pod comes after the claim: awaiting Bound would deadlock. The provider
    can only detect that by reading the StorageClass, a cluster-scoped object our users
    may not read (pulumi-kubernetes #895, #3130).
    """
    return PersistentVolumeClaim(
        logical_name,
        metadata=annotated(metadata(name, namespace, object_labels), {"pulumi.com/skipAwait": "true"}),
        spec=claim_spec(storage, access_mode),
        opts=pulumi.ResourceOptions(
            parent=parent, protect=storage.protect, retain_on_delete=True, depends_on=list(after)
        ),
    )


def ordinal_claims(
    parent: pulumi.Resource,
    logical_prefix: str,
    names: Names,
    template: str,
    replicas: int,
    storage: Storage,
    namespace: pulumi.Input[str],
    object_labels: dict[str, str],
    after: Sequence[pulumi.Resource] = (),
) -> list[PersistentVolumeClaim]:
    """One explicit PVC per ordinal, named so the StatefulSet controller adopts it.

    Owning the claims in Pulumi lets `protect` and `retain_on_delete` guard them, which a
    claim the controller creates from `volumeClaimTemplates` never gets.
    """
    return [
        guarded_claim(
            parent,
            f"{logical_prefix}-{template}-{ordinal}",
            names.claim(template, ordinal),
            storage,
            namespace,
            object_labels,
            after=after,
        )
        for ordinal in range(replicas)
    ]
