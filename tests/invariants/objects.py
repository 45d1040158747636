"""Finding one's way in manifests: pod templates, containers, volumes, and how a violation names them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

Manifest = dict[str, Any]
Record = dict[str, Any]


ES_DATA_PATH = "/usr/share/elasticsearch/data"
CONFIG_DIRS = ("/usr/share/elasticsearch/config", "/usr/share/logstash/config", "/usr/share/kibana/config")
CHECKSUM_ANNOTATION = "elk-stack/config-checksum"
WORKLOAD_KINDS = ("StatefulSet", "Deployment", "DaemonSet")


def ref(manifest: Manifest) -> str:
    """`Kind/name`, how a violation names its object."""
    return f"{manifest.get('kind')}/{manifest.get('metadata', {}).get('name')}"


def pod_template(manifest: Manifest) -> tuple[str, Manifest] | None:
    """The pod template of a pod-creating object and its field path, or None for other kinds."""
    kind = manifest.get("kind")
    spec = manifest.get("spec") or {}
    if kind == "Pod":
        return "", manifest
    if kind == "CronJob":
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        return "spec.jobTemplate.spec.template.", job.get("template") or {}
    if "template" in spec and kind in (*WORKLOAD_KINDS, "ReplicaSet", "Job"):
        return "spec.template.", spec["template"]
    return None


def pod_templates(manifests: list[Manifest]) -> Iterator[tuple[Manifest, str, Manifest]]:
    """Each object with a pod template, the template's path, and the template."""
    for manifest in manifests:
        found = pod_template(manifest)
        if found is not None:
            yield manifest, found[0], found[1]


def containers(template: Manifest, init: bool = True) -> Iterator[tuple[str, Manifest]]:
    """Each container of a pod template with its field path, e.g. `spec.containers[0]`."""
    spec = template.get("spec") or {}
    for field in ("initContainers", "containers") if init else ("containers",):
        for index, container in enumerate(spec.get(field) or []):
            yield f"spec.{field}[{index}]", container


def image_name(image: str) -> str:
    """The repository's last path segment: `docker.elastic.co/kibana/kibana:9.4.3` -> `kibana`."""
    repository = image.split("@")[0]
    last = repository.rsplit("/", 1)[-1]
    return last.split(":")[0]


def server_image(container: Manifest) -> str:
    """The image name of a container that runs its image's own server.

    A container that replaces the entrypoint (the setup Job's `bash script.sh` in the
    Elasticsearch image) is a client, not a node, and has no heap or data volume.
    """
    return "" if container.get("command") else image_name(container.get("image", ""))


def volumes_by_name(template: Manifest) -> dict[str, Manifest]:
    """The pod template's volumes, by name."""
    return {volume.get("name", ""): volume for volume in (template.get("spec") or {}).get("volumes") or []}


def claim_templates(manifest: Manifest) -> list[str]:
    """Names of a StatefulSet's volumeClaimTemplates; each becomes a pod volume of that name."""
    if manifest.get("kind") != "StatefulSet":
        return []
    templates = (manifest.get("spec") or {}).get("volumeClaimTemplates") or []
    return [template.get("metadata", {}).get("name", "") for template in templates]


def where(manifest: Manifest, path: str, container: Manifest) -> str:
    """`Kind/name: spec.template.spec.containers[0] (name)`, how a violation names a container."""
    return f"{ref(manifest)}: {path} ({container.get('name')})"


def as_path(text: str) -> PurePosixPath:
    return PurePosixPath(text.rstrip("/") or "/")
