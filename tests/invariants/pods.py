"""Every pod schedules, is capped, is probed, and sees its volumes and its images' own files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

from tests.invariants.objects import (
    CHECKSUM_ANNOTATION,
    CONFIG_DIRS,
    WORKLOAD_KINDS,
    Manifest,
    as_path,
    containers,
    pod_templates,
    ref,
    volumes_by_name,
    where,
)

# The keys of core/v1 Volume that name where its content comes from.
VOLUME_SOURCES = frozenset(
    {
        "awsElasticBlockStore",
        "azureDisk",
        "azureFile",
        "cephfs",
        "cinder",
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "fc",
        "flexVolume",
        "flocker",
        "gcePersistentDisk",
        "gitRepo",
        "glusterfs",
        "hostPath",
        "image",
        "iscsi",
        "nfs",
        "persistentVolumeClaim",
        "photonPersistentDisk",
        "portworxVolume",
        "projected",
        "quobyte",
        "rbd",
        "scaleIO",
        "secret",
        "storageos",
        "vsphereVolume",
    }
)


def resource_violations(manifests: list[Manifest]) -> list[str]:
    """Every container requests CPU, memory and disk, with memory and disk limits: it schedules and is capped.

    Without an ephemeral-storage limit one container's logs or scratch files can fill the
    node's disk and get every pod on it evicted.
    """
    violations: list[str] = []
    for manifest, prefix, template in pod_templates(manifests):
        for path, container in containers(template):
            resources = container.get("resources") or {}
            wanted = [
                ("requests", "cpu"),
                ("requests", "memory"),
                ("limits", "memory"),
                ("requests", "ephemeral-storage"),
                ("limits", "ephemeral-storage"),
            ]
            violations += [
                f"{where(manifest, prefix + path, container)}: resources.{side}.{amount} is missing"
                for side, amount in wanted
                if (resources.get(side) or {}).get(amount) is None
            ]
    return violations


# Paths that answer with the health of something else than the process itself.
HEALTH_PATHS = ("/api/status", "/_cluster/health", "/_health_report", "/_node/pipelines")


def liveness_violations(manifests: list[Manifest]) -> list[str]:
    """Every workload container has a liveness probe on its own process, never on a health report.

    A liveness probe that follows cluster health restarts every pod during an outage.
    """
    violations = []
    for manifest, prefix, template in pod_templates(manifests):
        if manifest.get("kind") not in WORKLOAD_KINDS:
            continue
        for path, container in containers(template, init=False):
            at = where(manifest, prefix + path, container)
            probe = container.get("livenessProbe")
            if not probe:
                violations.append(f"{at}: livenessProbe is missing")
            elif "exec" in probe or str((probe.get("httpGet") or {}).get("path", "")).startswith(
                HEALTH_PATHS
            ):
                violations.append(f"{at}: livenessProbe must check the process's own port, not {probe}")
    return violations


def readiness_violations(manifests: list[Manifest]) -> list[str]:
    """Every workload container has a readiness probe, so Services only route to ready pods."""
    return [
        f"{where(manifest, prefix + path, container)}: readinessProbe is missing"
        for manifest, prefix, template in pod_templates(manifests)
        if manifest.get("kind") in WORKLOAD_KINDS
        for path, container in containers(template, init=False)
        if not container.get("readinessProbe")
    ]


def volume_source_violations(manifests: list[Manifest]) -> list[str]:
    """Every volume names its source; one without becomes an empty directory, silently."""
    violations: list[str] = []
    for manifest, prefix, template in pod_templates(manifests):
        for index, volume in enumerate((template.get("spec") or {}).get("volumes") or []):
            if not VOLUME_SOURCES & set(volume):
                others = sorted(set(volume) - {"name"})
                detail = f" (only {', '.join(others)})" if others else ""
                violations.append(
                    f"{ref(manifest)}: {prefix}spec.volumes[{index}] {volume.get('name')!r} "
                    f"has no source such as configMap or secret{detail}"
                )
    return violations


def config_shadowing_violations(manifests: list[Manifest]) -> list[str]:
    """No ConfigMap or Secret is mounted over an image's config directory, hiding jvm.options and more."""
    violations: list[str] = []
    for manifest, prefix, template in pod_templates(manifests):
        volumes = volumes_by_name(template)
        for path, container in containers(template):
            for index, mount in enumerate(container.get("volumeMounts") or []):
                volume = volumes.get(mount.get("name", ""), {})
                source = next((s for s in ("configMap", "secret", "projected") if s in volume), None)
                if source is None or mount.get("subPath"):
                    continue
                mount_path = as_path(mount.get("mountPath", ""))
                violations += [
                    f"{ref(manifest)}: {prefix}{path}.volumeMounts[{index}] mounts {source} "
                    f"{mount.get('name')!r} over {directory} without subPath"
                    for directory in CONFIG_DIRS
                    if PurePosixPath(directory).is_relative_to(mount_path)
                ]
    return violations


def _mounts_config_map(template: Manifest) -> bool:
    for volume in (template.get("spec") or {}).get("volumes") or []:
        sources = (volume.get("projected") or {}).get("sources") or []
        if "configMap" in volume or any("configMap" in source for source in sources):
            return True
    return False


def checksum_violations(manifests: list[Manifest]) -> list[str]:
    """Pod templates that mount a ConfigMap carry its checksum, so an edit rolls the pods."""
    return [
        f"{ref(manifest)}: {prefix}metadata.annotations[{CHECKSUM_ANNOTATION!r}] is missing "
        "although the pod mounts a ConfigMap"
        for manifest, prefix, template in pod_templates(manifests)
        if _mounts_config_map(template)
        and not ((template.get("metadata") or {}).get("annotations") or {}).get(CHECKSUM_ANNOTATION)
    ]


# Empty values whose meaning the API server keeps: "select everything", "a scratch directory".
MEANINGFUL_EMPTY = frozenset({"emptyDir", "podSelector", "namespaceSelector"})


def _empty_paths(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, dict | list) and not value and path.rsplit(".", 1)[-1] not in MEANINGFUL_EMPTY:
        yield path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, item in items:
        yield from _empty_paths(item, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}")


def empty_value_violations(manifests: list[Manifest]) -> list[str]:
    """No empty map or list the API server would drop, so the render reads as the live object.

    The server omits empty fields (`matchLabels: {}` comes back absent), and the e2e suite's
    "the render tells the truth" check then sees a difference the render should not show.
    """
    return [
        f"{ref(manifest)}: {path.removeprefix('.')} is empty; the API server drops it"
        for manifest in manifests
        for path in _empty_paths(manifest, "")
    ]
