"""Everything in the configured namespace: teams get a namespace, not rights over the cluster."""

from __future__ import annotations

from tests.invariants.objects import Manifest, ref

CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "StorageClass",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PriorityClass",
        "IngressClass",
        "RuntimeClass",
        "CSIDriver",
        "VolumeSnapshotClass",
        "APIService",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    }
)


def namespace_violations(
    manifests: list[Manifest], namespace: str, create_namespace: bool = False
) -> list[str]:
    """Everything lives in the configured namespace; cluster-scoped objects need rights teams lack.

    Only with `createNamespace` may the stack hold one cluster-scoped object: that Namespace.
    """
    violations: list[str] = []
    namespaces = [m for m in manifests if m.get("kind") == "Namespace"]
    for manifest in manifests:
        kind, metadata = manifest.get("kind"), manifest.get("metadata") or {}
        if kind == "Namespace" and create_namespace:
            if metadata.get("name") != namespace:
                violations.append(f"{ref(manifest)}: metadata.name is not the configured {namespace!r}")
        elif kind in CLUSTER_SCOPED_KINDS:
            violations.append(
                f"{ref(manifest)}: {kind} is cluster-scoped; the stack may only use {namespace!r}"
            )
        elif metadata.get("namespace") != namespace:
            violations.append(
                f"{ref(manifest)}: metadata.namespace is {metadata.get('namespace')!r}, not {namespace!r}"
            )
    if create_namespace and len(namespaces) != 1:
        violations.append(f"createNamespace is set but there are {len(namespaces)} Namespace objects, not 1")
    return violations
