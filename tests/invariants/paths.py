"""Every file a command, probe, env var or settings file names is mounted or in the image."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

import yaml

from tests.invariants.files import (
    SETTINGS_BASES,
    Mount,
    container_mounts,
    data_of,
    flatten,
    stored_objects,
    visible_files,
)
from tests.invariants.objects import Manifest, as_path, containers, image_name, pod_templates, where

# Paths the images ship, by image name: a command, probe or setting may name these
# without a volume. Deliberately short: a path that is not here must come from a volume.
# From the official Dockerfiles (docker.elastic.co/<product>/<product>:9.x).
IMAGE_LAYOUT: dict[str, tuple[str, ...]] = {
    "elasticsearch": (
        "/usr/share/elasticsearch/bin",
        "/usr/share/elasticsearch/jdk",
        "/usr/local/bin/docker-entrypoint.sh",
    ),
    # Logstash's data directory is part of the image; a memory queue keeps nothing there.
    "logstash": (
        "/usr/share/logstash/bin",
        "/usr/share/logstash/data",
        "/usr/local/bin/docker-entrypoint",
    ),
    "kibana": ("/usr/share/kibana/bin", "/usr/local/bin/kibana-docker"),
}
SYSTEM_PATHS = ("/bin", "/usr/bin", "/dev/null")


# Setting names (their last dotted segments) whose values are file paths.
PATH_SETTINGS = (
    "ssl.key",
    "ssl.certificate",
    "ssl.certificate_authorities",
    "ssl.certificateAuthorities",
    "ssl.keystore.path",
    "ssl.truststore.path",
    "ssl.keystore",
    "ssl.truststore",
    "path.data",
    "path.logs",
    "path.repo",
    "path.config",
)


def _path_settings(
    name: str, file_path: PurePosixPath, settings: dict[str, Any]
) -> Iterator[tuple[str, str]]:
    """(setting, absolute path) of every file path a settings file names."""
    base = SETTINGS_BASES[name]
    directory = PurePosixPath(base) if base else file_path.parent
    for setting, value in settings.items():
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, str) or "${" in item:
                continue
            if item.startswith("/"):
                yield setting, item
            elif setting.endswith(PATH_SETTINGS):
                yield setting, str(directory / item)


def shell_paths(text: str) -> list[str]:
    """Absolute paths in a command or shell script line: `--cacert=/x`, `touch /x`, not URLs."""
    try:
        tokens = shlex.split(text, comments=True)
    except ValueError:
        tokens = text.split()
    return [
        part.rstrip(";)&|")
        for token in tokens
        if "://" not in token
        for part in token.split("=")
        if part.startswith("/")
    ]


def _named_paths(container: Manifest) -> Iterator[tuple[str, str]]:
    """(what names it, path) for the command, args, exec probes and path-valued env of a container."""
    for field_name in ("command", "args"):
        for argument in container.get(field_name) or []:
            yield from ((field_name, path) for path in shell_paths(str(argument)))
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        for argument in ((container.get(probe) or {}).get("exec") or {}).get("command") or []:
            yield from ((f"{probe}.exec", path) for path in shell_paths(str(argument)))
    for entry in container.get("env") or []:
        value = entry.get("value")
        if isinstance(value, str) and value.startswith("/") and len(value.split()) == 1:
            yield f"env {entry.get('name')}", value


def _provided(path: PurePosixPath, mounts: list[Mount], image: str) -> bool:
    """Whether a volume of the container, or else its image, has something at `path`."""
    covering = [m for m in mounts if path == m.path or path.is_relative_to(m.path)]
    if covering:
        mount = max(covering, key=lambda m: len(m.path.parts))
        if mount.files is None:
            return True
        relative = path.relative_to(mount.path)
        return any(file == relative or file.is_relative_to(relative) for file in mount.files)
    layout = (*IMAGE_LAYOUT.get(image, ()), *SYSTEM_PATHS)
    return any(path == PurePosixPath(p) or path.is_relative_to(p) for p in layout)


def pod_name_variables(manifest: Manifest, container: Manifest) -> dict[str, list[str]]:
    """Env vars holding the pod's own name (downward API), with every name a StatefulSet's pods take."""
    if manifest.get("kind") != "StatefulSet":
        return {}
    name = (manifest.get("metadata") or {}).get("name", "")
    pods = [f"{name}-{ordinal}" for ordinal in range((manifest.get("spec") or {}).get("replicas", 1))]
    return {
        entry.get("name", ""): pods
        for entry in container.get("env") or []
        if ((entry.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath") == "metadata.name"
    }


def expand_variables(value: Any, variables: dict[str, list[str]]) -> Any:
    """A setting with `${VAR}` of a pod-name variable as the list of its values for every pod."""
    items = value if isinstance(value, list) else [value]
    expanded: list[Any] = []
    for item in items:
        found = [v for v in variables if isinstance(item, str) and f"${{{v}}}" in item]
        if not found:
            expanded.append(item)
            continue
        expanded += [item.replace(f"${{{found[0]}}}", pod) for pod in variables[found[0]]]
    return expanded if isinstance(value, list) or len(expanded) != 1 else expanded[0]


def file_path_violations(manifests: list[Manifest]) -> list[str]:
    """Every file a command, probe, env var or settings file names is mounted or in the image.

    A probe's `--cacert` naming a file no volume provides keeps a node from ever being
    Ready; a settings file naming a missing certificate keeps it from starting.
    """
    objects = stored_objects(manifests)
    violations = []
    for manifest, prefix, template in pod_templates(manifests):
        for path, container in containers(template):
            mounts = container_mounts(manifest, template, container, objects)
            named = list(_named_paths(container))
            for file_path, (kind, name, key) in visible_files(mounts).items():
                if kind == "ConfigMap" and file_path.name in SETTINGS_BASES:
                    text = data_of(objects.get((kind, name), {})).get(key)
                    settings = flatten(yaml.safe_load(text) or {}) if isinstance(text, str) else {}
                    # `certs/${POD_NAME}.tls.crt` must exist for every pod of the set.
                    variables = pod_name_variables(manifest, container)
                    settings = {k: expand_variables(v, variables) for k, v in settings.items()}
                    named += [
                        (f"{file_path.name} {setting}", p)
                        for setting, p in _path_settings(file_path.name, file_path, settings)
                    ]
            image = image_name(container.get("image", ""))
            violations += [
                f"{where(manifest, prefix + path, container)}: {origin} names {file}, which no volume "
                f"of the container provides and the {image} image does not have"
                for origin, file in named
                if not _provided(as_path(file), mounts, image)
            ]
    return violations
