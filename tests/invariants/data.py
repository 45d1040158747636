"""Elasticsearch data on a claim that is mounted, explicit, protected and retained."""

from __future__ import annotations

from tests.invariants.objects import (
    ES_DATA_PATH,
    Manifest,
    Record,
    as_path,
    claim_templates,
    containers,
    pod_templates,
    ref,
    server_image,
    volumes_by_name,
    where,
)

ES_DATA_PVC_PARENT = "ElasticsearchNode"
PVC_TYPE = "kubernetes:core/v1:PersistentVolumeClaim"


def data_volume_violations(manifests: list[Manifest]) -> list[str]:
    """Elasticsearch data lives on a PVC mounted at the data path; every claim is mounted.

    A claim that exists but is never mounted is the bug that lost a redeploy's documents:
    the data went to the container's writable layer.
    """
    violations: list[str] = []
    # (StatefulSet, claim template) pairs; the controller adopts PVCs named `<claim>-<sts>-<n>`.
    templated = [
        ((m.get("metadata") or {}).get("name"), claim) for m in manifests for claim in claim_templates(m)
    ]
    claimed_names: set[str] = set()
    for manifest, prefix, template in pod_templates(manifests):
        volumes = volumes_by_name(template)
        claims = {name: "spec.volumeClaimTemplates" for name in claim_templates(manifest)}
        for name, volume in volumes.items():
            if "persistentVolumeClaim" in volume:
                claims[name] = f"{prefix}spec.volumes"
                claimed_names.add(volume["persistentVolumeClaim"].get("claimName", ""))
        mounted = {
            mount.get("name") for _, c in containers(template) for mount in c.get("volumeMounts") or []
        }
        violations += [
            f"{ref(manifest)}: {field} {name!r} is never mounted by any container"
            for name, field in claims.items()
            if name not in mounted
        ]
        for path, container in containers(template):
            if server_image(container) != "elasticsearch":
                continue
            at = where(manifest, prefix + path, container)
            data_mounts = [
                m
                for m in container.get("volumeMounts") or []
                if as_path(m.get("mountPath", "")) == as_path(ES_DATA_PATH)
            ]
            if not data_mounts:
                elsewhere = [
                    f"{m.get('name')!r} at {m.get('mountPath')}"
                    for m in container.get("volumeMounts") or []
                    if m.get("name") in claims
                ]
                detail = f"; its claims are mounted elsewhere: {', '.join(elsewhere)}" if elsewhere else ""
                violations.append(f"{at}: no volumeMount at {ES_DATA_PATH}{detail}")
            for mount in data_mounts:
                if mount.get("name") not in claims:
                    source = sorted(set(volumes.get(mount.get("name", ""), {})) - {"name"}) or ["no volume"]
                    violations.append(
                        f"{at}: volumeMount {mount.get('name')!r} at {ES_DATA_PATH} is "
                        f"{'/'.join(source)}, not a PersistentVolumeClaim"
                    )
    for manifest in manifests:
        name = (manifest.get("metadata") or {}).get("name", "")
        adopted = any(name.removeprefix(f"{claim}-{owner}-").isdigit() for owner, claim in templated)
        if manifest.get("kind") == "PersistentVolumeClaim" and name not in claimed_names and not adopted:
            violations.append(f"{ref(manifest)}: no pod volume or StatefulSet claim template uses it")
    return violations


def data_claim_names(manifests: list[Manifest]) -> list[str]:
    """The PVC names the StatefulSet controller uses for Elasticsearch data: `<claim>-<sts>-<ordinal>`."""
    names: list[str] = []
    for manifest, _, template in pod_templates(manifests):
        templates = claim_templates(manifest)
        data_claims = {
            mount.get("name")
            for _, container in containers(template)
            if server_image(container) == "elasticsearch"
            for mount in container.get("volumeMounts") or []
            if as_path(mount.get("mountPath", "")) == as_path(ES_DATA_PATH) and mount.get("name") in templates
        }
        replicas = (manifest.get("spec") or {}).get("replicas", 1)
        names += [
            f"{claim}-{manifest['metadata']['name']}-{ordinal}"
            for claim in sorted(c for c in data_claims if c)
            for ordinal in range(replicas)
        ]
    return names


def data_protection_violations(manifests: list[Manifest], resources: list[Record]) -> list[str]:
    """Elasticsearch data PVCs are Pulumi resources with protect and retainOnDelete.

    A claim the StatefulSet controller creates from its template has neither, so every
    ordinal's claim must also be an explicit PersistentVolumeClaim the controller adopts.
    Records carry no Kubernetes name, so data PVC records are those under an
    ElasticsearchNode component.
    """
    violations: list[str] = []
    explicit = {
        (m.get("metadata") or {}).get("name") for m in manifests if m.get("kind") == "PersistentVolumeClaim"
    }
    expected = data_claim_names(manifests)
    violations += [
        f"PersistentVolumeClaim/{name}: no explicit PVC, so the StatefulSet controller creates it unprotected"
        for name in expected
        if name not in explicit
    ]
    records = [
        r for r in resources if r.get("type") == PVC_TYPE and ES_DATA_PVC_PARENT in (r.get("parent") or "")
    ]
    if expected and not records:
        violations.append(
            f"no {PVC_TYPE} resource under an {ES_DATA_PVC_PARENT}: Elasticsearch data is unguarded"
        )
    for record in records:
        for option in ("protect", "retainOnDelete"):
            if record.get(option) is not True:
                violations.append(
                    f"{record['type']}::{record.get('name')}: {option} is {record.get(option)!r}, not True"
                )
    return violations
