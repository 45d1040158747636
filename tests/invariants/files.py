"""What a container reads: ConfigMap and Secret values through its volumes, env and settings files."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import yaml

from tests.invariants.objects import Manifest, as_path, claim_templates, ref, volumes_by_name

Source = tuple[str, str, str]
"""(kind, name, key) of one ConfigMap or Secret value."""


# Files a mount shows, by path relative to the mount; None when any path under it may exist
# (a writable volume, or a Secret the stack does not render, e.g. `tls.existingSecret`).
Files = dict[PurePosixPath, Source] | None


# Settings files, and the directory their relative paths are resolved against: Elasticsearch
# resolves against its config directory, Kibana and Logstash against their home.
SETTINGS_BASES: dict[str, str | None] = {
    "elasticsearch.yml": None,
    "kibana.yml": "/usr/share/kibana",
    "logstash.yml": "/usr/share/logstash",
}


def data_of(manifest: Manifest) -> dict[str, Any]:
    """Every key of a ConfigMap or Secret, whichever field holds it."""
    return {
        **(manifest.get("binaryData") or {}),
        **(manifest.get("data") or {}),
        **(manifest.get("stringData") or {}),
    }


def stored_objects(manifests: list[Manifest]) -> dict[tuple[str, str], Manifest]:
    """The stack's ConfigMaps and Secrets by (kind, name)."""
    return {
        (m["kind"], (m.get("metadata") or {}).get("name", "")): m
        for m in manifests
        if m.get("kind") in ("ConfigMap", "Secret")
    }


def object_sources(volume: Manifest) -> Iterator[tuple[str, Manifest]]:
    """(kind, reference) of each ConfigMap or Secret a volume projects, `projected` included."""
    if "configMap" in volume:
        yield "ConfigMap", volume["configMap"]
    if "secret" in volume:
        secret = volume["secret"]
        yield "Secret", {**secret, "name": secret.get("secretName")}
    for source in (volume.get("projected") or {}).get("sources") or []:
        if "configMap" in source:
            yield "ConfigMap", source["configMap"]
        if "secret" in source:
            yield "Secret", source["secret"]


def volume_files(volume: Manifest, objects: dict[tuple[str, str], Manifest]) -> Files:
    """The files a ConfigMap/Secret volume shows, by relative path; None when unknowable."""
    files: dict[PurePosixPath, Source] = {}
    for kind, reference in object_sources(volume):
        name = reference.get("name", "")
        items = reference.get("items")
        if items:
            files |= {PurePosixPath(i.get("path", "")): (kind, name, i.get("key", "")) for i in items}
        elif (kind, name) in objects:
            files |= {PurePosixPath(key): (kind, name, key) for key in data_of(objects[(kind, name)])}
        else:
            return None
    return files


@dataclass(frozen=True)
class Mount:
    """One volumeMount of a container, with what it shows under its path."""

    path: PurePosixPath
    volume: str
    files: Files
    """Files under `path` (a subPath mount is one file at `path`); None: anything may be there."""
    sub_path: bool
    """Whether it mounts one entry by `subPath`, which the kubelet never updates in place."""


def container_mounts(
    manifest: Manifest, template: Manifest, container: Manifest, objects: dict[tuple[str, str], Manifest]
) -> list[Mount]:
    """The container's mounts, each with the files it shows."""
    volumes = volumes_by_name(template)
    claims = set(claim_templates(manifest))
    mounts = []
    for mount in container.get("volumeMounts") or []:
        name = mount.get("name", "")
        volume = volumes.get(name, {})
        stored = any(True for _ in object_sources(volume))
        files = volume_files(volume, objects) if stored else None
        if not stored and name not in volumes and name not in claims:
            files = {}  # a mount of no volume shows nothing
        sub_path = mount.get("subPath")
        if sub_path and files is not None:
            wanted = PurePosixPath(sub_path)
            files = {
                path.relative_to(wanted) if path != wanted else PurePosixPath(""): source
                for path, source in files.items()
                if path == wanted or path.is_relative_to(wanted)
            }
        mounts.append(Mount(as_path(mount.get("mountPath", "")), name, files, bool(sub_path)))
    return mounts


def visible_files(mounts: list[Mount]) -> dict[PurePosixPath, Source]:
    """Absolute path -> source of every ConfigMap/Secret value the container can read as a file."""
    return {
        mount.path / relative if str(relative) != "." else mount.path: source
        for mount in mounts
        if mount.files
        for relative, source in mount.files.items()
    }


def env_sources(container: Manifest, objects: dict[tuple[str, str], Manifest]) -> set[Source]:
    """ConfigMap/Secret values a container reads through its environment."""
    sources: set[Source] = set()
    for entry in container.get("env") or []:
        value_from = entry.get("valueFrom") or {}
        for field_name, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
            if field_name in value_from:
                reference = value_from[field_name]
                sources.add((kind, reference.get("name", ""), reference.get("key", "")))
    for entry in container.get("envFrom") or []:
        for field_name, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
            if field_name in entry:
                name = entry[field_name].get("name", "")
                sources |= {(kind, name, key) for key in data_of(objects.get((kind, name), {}))}
    return sources


def flatten(settings: Any, prefix: str = "") -> dict[str, Any]:
    """Nested YAML settings as dotted keys, as the products read them."""
    if not isinstance(settings, dict):
        return {prefix: settings} if prefix else {}
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        flat |= flatten(value, f"{prefix}.{key}" if prefix else str(key))
    return flat


def settings_files(manifests: list[Manifest]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(where, file name, flat settings) of each settings file in the stack's ConfigMaps."""
    for manifest in manifests:
        if manifest.get("kind") != "ConfigMap":
            continue
        for key, text in (manifest.get("data") or {}).items():
            if key in SETTINGS_BASES:
                yield f"{ref(manifest)}: data[{key!r}]", key, flatten(yaml.safe_load(text) or {})
