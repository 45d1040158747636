"""What one container of a rendered pod needs to run outside Kubernetes, read from the manifests.

The kubelet turns a pod spec into a process: it resolves the environment (Secret and
ConfigMap keys, field references, `$(VAR)` references), projects ConfigMap and Secret keys
into files with their modes, gives each claim a volume, and runs the image's entrypoint
with the container's command and arguments as the pod's user. These pure functions do the
reading; `runner` does the running. Anything a rendered pod uses that is not understood here
raises `PodError`: a finding, not something to skip.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Manifest = dict[str, Any]
# Kubernetes' default mode of projected ConfigMap and Secret files.
DEFAULT_MODE = 0o644
_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")


class PodError(Exception):
    """The rendered pod uses something this runner does not know how to give it."""


@dataclass(frozen=True)
class File:
    """A file a ConfigMap or Secret volume holds, at its path inside the volume."""

    path: str
    content: bytes
    mode: int


@dataclass(frozen=True)
class Volume:
    """A pod volume: projected files, an empty directory, or a claim (data that outlives the pod)."""

    name: str
    files: tuple[File, ...] = ()
    claim: str | None = None


@dataclass(frozen=True)
class Mount:
    """A volumeMount: the whole volume, or one path of it (subPath), at a path in the container."""

    path: str
    volume: str
    sub_path: str = ""
    read_only: bool = False


@dataclass(frozen=True)
class Container:
    """Everything the kubelet would give one container of one pod."""

    pod: str
    namespace: str
    image: str
    name: str
    command: tuple[str, ...] | None
    args: tuple[str, ...] | None
    env: dict[str, str]
    volumes: dict[str, Volume]
    mounts: tuple[Mount, ...]
    user: int
    group: int
    fs_group: int | None
    probes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Exec probes by kind (startup, readiness, liveness): their commands."""
    pre_stop: tuple[str, ...] | None = None
    """The exec preStop hook's command, which a deletion runs before SIGTERM."""
    read_only_root: bool = False
    """`readOnlyRootFilesystem`: only the pod's volumes are writable."""

    @property
    def version(self) -> str:
        """The image's tag: the Elasticsearch version the container runs."""
        return self.image.rsplit(":", 1)[1]


def find(manifests: Sequence[Manifest], kind: str, name: str) -> Manifest:
    """The one manifest of `kind` named `name`."""
    matches = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    if len(matches) != 1:
        raise PodError(f"the render has {len(matches)} {kind} named {name}, not one")
    return matches[0]


def secret_values(secret: Manifest) -> dict[str, str]:
    """A Secret's values as text: `stringData` as written, `data` decoded from base64."""
    values = {key: base64.b64decode(value).decode() for key, value in secret.get("data", {}).items()}
    return {**values, **secret.get("stringData", {})}


def _source(manifests: Sequence[Manifest], kind: str, name: str) -> dict[str, str]:
    manifest = find(manifests, kind, name)
    return secret_values(manifest) if kind == "Secret" else dict(manifest.get("data", {}))


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: defined variables are replaced, `$$` is a literal `$`."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _REFERENCE.sub(replace, value)


def _env_value(entry: Manifest, manifests: Sequence[Manifest], fields: dict[str, str]) -> str:
    source = entry.get("valueFrom")
    if source is None:
        return str(entry.get("value", ""))
    if "secretKeyRef" in source or "configMapKeyRef" in source:
        kind, ref = (
            ("Secret", source["secretKeyRef"])
            if "secretKeyRef" in source
            else (
                "ConfigMap",
                source["configMapKeyRef"],
            )
        )
        return _source(manifests, kind, ref["name"])[ref["key"]]
    if "fieldRef" in source and source["fieldRef"]["fieldPath"] in fields:
        return fields[source["fieldRef"]["fieldPath"]]
    raise PodError(f"env {entry['name']}: {source} is not supported here")


def environment(
    spec: list[Manifest], manifests: Sequence[Manifest], fields: dict[str, str]
) -> dict[str, str]:
    """The container's environment, in order, each value expanded against those before it."""
    env: dict[str, str] = {}
    for entry in spec:
        env[entry["name"]] = expand(_env_value(entry, manifests, fields), env)
    return env


def _projected(source: dict[str, str], volume: Manifest) -> tuple[File, ...]:
    default = volume.get("defaultMode", DEFAULT_MODE)
    items = volume.get("items") or [{"key": key, "path": key} for key in sorted(source)]
    return tuple(
        File(item["path"], source[item["key"]].encode(), item.get("mode", default)) for item in items
    )


def volume(spec: Manifest, manifests: Sequence[Manifest], claims: dict[str, str]) -> Volume:
    """One pod volume; `claims` names the claim behind each volumeClaimTemplate."""
    name = spec["name"]
    if "configMap" in spec:
        source = _source(manifests, "ConfigMap", spec["configMap"]["name"])
        return Volume(name, files=_projected(source, spec["configMap"]))
    if "secret" in spec:
        source = _source(manifests, "Secret", spec["secret"]["secretName"])
        return Volume(name, files=_projected(source, spec["secret"]))
    if "projected" in spec:
        files: list[File] = []
        for source in spec["projected"]["sources"]:
            kind, ref = (
                ("Secret", source["secret"]) if "secret" in source else ("ConfigMap", source["configMap"])
            )
            entries = _source(manifests, kind, ref["name"])
            mode = {"defaultMode": spec["projected"].get("defaultMode", DEFAULT_MODE)}
            files += _projected(entries, {**ref, **mode})
        return Volume(name, files=tuple(files))
    if "emptyDir" in spec:
        return Volume(name)
    if "persistentVolumeClaim" in spec:
        return Volume(name, claim=spec["persistentVolumeClaim"]["claimName"])
    if name in claims:
        return Volume(name, claim=claims[name])
    raise PodError(f"volume {name}: {sorted(spec)} is not supported here")


def _exec_probes(container: Manifest) -> dict[str, tuple[str, ...]]:
    probes = {}
    for kind in ("startup", "readiness", "liveness"):
        probe = container.get(f"{kind}Probe") or {}
        if "exec" in probe:
            probes[kind] = tuple(probe["exec"]["command"])
    return probes


def _pre_stop(container: Manifest) -> tuple[str, ...] | None:
    hook = ((container.get("lifecycle") or {}).get("preStop") or {}).get("exec")
    return tuple(hook["command"]) if hook else None


def container(
    manifests: Sequence[Manifest],
    kind: str,
    name: str,
    *,
    ordinal: int = 0,
    container_name: str | None = None,
) -> Container:
    """The container (the first, or `container_name`) of pod `ordinal` of the workload `kind/name`.

    A StatefulSet's pod is `<name>-<ordinal>` with its claims `<template>-<name>-<ordinal>`;
    a Job's or Deployment's pod is named after the workload.
    """
    workload = find(manifests, kind, name)
    namespace = workload["metadata"]["namespace"]
    pod = f"{name}-{ordinal}" if kind == "StatefulSet" else name
    claims = {
        template["metadata"]["name"]: f"{template['metadata']['name']}-{pod}"
        for template in workload["spec"].get("volumeClaimTemplates", [])
    }
    spec = workload["spec"]["template"]["spec"]
    chosen = next(c for c in spec["containers"] if container_name in (None, c["name"]))
    fields = {"metadata.name": pod, "metadata.namespace": namespace}
    security = {**spec.get("securityContext", {}), **chosen.get("securityContext", {})}
    return Container(
        pod=pod,
        namespace=namespace,
        image=chosen["image"],
        name=chosen["name"],
        command=tuple(chosen["command"]) if "command" in chosen else None,
        args=tuple(chosen["args"]) if "args" in chosen else None,
        env=environment(chosen.get("env", []), manifests, fields),
        volumes={
            **{template: Volume(template, claim=claim) for template, claim in claims.items()},
            **{v["name"]: volume(v, manifests, claims) for v in spec.get("volumes", [])},
        },
        mounts=tuple(
            Mount(m["mountPath"], m["name"], m.get("subPath", ""), m.get("readOnly", False))
            for m in chosen.get("volumeMounts", [])
        ),
        user=security.get("runAsUser", 0),
        group=security.get("runAsGroup", 0),
        fs_group=spec.get("securityContext", {}).get("fsGroup"),
        probes=_exec_probes(chosen),
        pre_stop=_pre_stop(chosen),
        read_only_root=bool(chosen.get("securityContext", {}).get("readOnlyRootFilesystem")),
    )


def replace_env(container: Container, values: dict[str, str]) -> Container:
    """The container with some variables set otherwise (a fault injected on purpose, e.g. a wrong user).

    A variable the container reads from a credential file (ENV_FILES_DIR) is replaced in
    that file, where the program reads it.
    """
    files = _env_files_volume(container)
    in_files = {f.path for f in files.files} if files else set()
    missing = sorted(set(values) - set(container.env) - in_files)
    if missing:
        raise PodError(f"{container.pod} has no variables {missing} to replace")
    env = {**container.env, **{k: v for k, v in values.items() if k not in in_files}}
    volumes = dict(container.volumes)
    if files is not None:
        replaced = tuple(
            dataclasses.replace(f, content=values[f.path].encode()) if f.path in values else f
            for f in files.files
        )
        volumes[files.name] = dataclasses.replace(files, files=replaced)
    return dataclasses.replace(container, env=env, volumes=volumes)


def program_env(container: Container) -> dict[str, str]:
    """The variables the program sees: its env, and those scripts/env-from-files.sh reads from files."""
    files = _env_files_volume(container)
    read = {f.path: f.content.decode().rstrip("\n") for f in files.files} if files else {}
    return {**container.env, **read}


def _env_files_volume(container: Container) -> Volume | None:
    """The volume mounted at the container's ENV_FILES_DIR, if it has one."""
    directory = container.env.get("ENV_FILES_DIR")
    mount = next((m for m in container.mounts if m.path == directory), None)
    return container.volumes[mount.volume] if mount else None
