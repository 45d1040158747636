"""Invariants every rendered stack must hold, as pure checks over manifests.

Each check returns human-readable violations (empty = OK), naming the object and the
offending field, so a failing test reads like a review comment. The checks know nothing
about how the program builds its objects: they read plain manifests, which is what lets
them run on hand-written YAML too (`tests/fixtures/broken/`, `tests/fixtures/wiring/`),
proving each can fail. The wiring checks (issue 10) follow references between objects:
Service to pods and ports, volumes and env to ConfigMap/Secret keys, commands and
settings to mounted files, checksums to what each pod reads.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any

import yaml

from components.configuration.units import parse_jvm_size, parse_quantity
from components.specs.common import config_checksum

Manifest = dict[str, Any]
Record = dict[str, Any]
Check = Callable[[list[Manifest], list[Record], "Stack"], list[str]]

ES_DATA_PATH = "/usr/share/elasticsearch/data"
CONFIG_DIRS = ("/usr/share/elasticsearch/config", "/usr/share/logstash/config", "/usr/share/kibana/config")
CHECKSUM_ANNOTATION = "elk-stack/config-checksum"
WORKLOAD_KINDS = ("StatefulSet", "Deployment", "DaemonSet")
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
# Heap options variable -> the share of the container's memory limit the heap may take.
HEAP_SHARES = {"ES_JAVA_OPTS": Decimal("0.5"), "LS_JAVA_OPTS": Decimal("0.75")}
HEAP_VARIABLE_BY_IMAGE = {"elasticsearch": "ES_JAVA_OPTS", "logstash": "LS_JAVA_OPTS"}
ES_DATA_PVC_PARENT = "ElasticsearchNode"
PVC_TYPE = "kubernetes:core/v1:PersistentVolumeClaim"


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


def _path(text: str) -> PurePosixPath:
    return PurePosixPath(text.rstrip("/") or "/")


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
                if _path(m.get("mountPath", "")) == _path(ES_DATA_PATH)
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
            if _path(mount.get("mountPath", "")) == _path(ES_DATA_PATH) and mount.get("name") in templates
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


def java_option(options: str, flag: str) -> str | None:
    """The value of the last `-Xmx`/`-Xms` in a JVM options string, the one the JVM uses."""
    values = [token.removeprefix(flag) for token in options.split() if token.startswith(flag)]
    return values[-1] if values else None


def heap_violations(manifests: list[Manifest]) -> list[str]:
    """Heap within its share of the memory limit (ES 50%, Logstash 75%), and `-Xms` = `-Xmx`.

    The rest of the limit is off-heap memory; a 2g heap in a 2Gi pod is OOMKilled in a loop.
    """
    violations: list[str] = []
    for manifest, prefix, template in pod_templates(manifests):
        for path, container in containers(template):
            at = where(manifest, prefix + path, container)
            env = {e.get("name"): e for e in container.get("env") or []}
            required = HEAP_VARIABLE_BY_IMAGE.get(server_image(container))
            if required and required not in env:
                violations.append(f"{at}: env {required} is not set, so the heap is not sized")
            for variable, share in HEAP_SHARES.items():
                if variable in env:
                    violations += _heap_problems(at, variable, env[variable], container, share)
    return violations


def _heap_problems(at: str, variable: str, entry: Manifest, container: Manifest, share: Decimal) -> list[str]:
    """What is wrong with one `*_JAVA_OPTS` heap against its container's memory limit."""
    options = entry.get("value")
    if not isinstance(options, str):
        return [f"{at}: env {variable} is not a literal value, so its heap cannot be checked"]
    maximum, initial = java_option(options, "-Xmx"), java_option(options, "-Xms")
    limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    if maximum is None:
        return [f"{at}: env {variable} {options!r} sets no -Xmx"]
    try:
        heap = parse_jvm_size(maximum)
        initial_heap = parse_jvm_size(initial) if initial is not None else None
        limit_bytes = parse_quantity(str(limit)) if limit is not None else None
    except ValueError as error:
        return [f"{at}: env {variable}: {error}"]
    problems = []
    if initial_heap != heap:
        problems.append(f"{at}: env {variable} -Xms{initial or ' (unset)'} is not equal to -Xmx{maximum}")
    if limit_bytes is None:
        problems.append(f"{at}: resources.limits.memory is missing, so -Xmx{maximum} is unbounded")
    elif heap > limit_bytes * share:
        problems.append(
            f"{at}: env {variable} -Xmx{maximum} is more than {share:.0%} of "
            f"resources.limits.memory {limit}; the pod would be OOMKilled"
        )
    return problems


def resource_violations(manifests: list[Manifest]) -> list[str]:
    """Every container requests CPU and memory and has a memory limit, so it schedules and is capped."""
    violations: list[str] = []
    for manifest, prefix, template in pod_templates(manifests):
        for path, container in containers(template):
            resources = container.get("resources") or {}
            wanted = [("requests", "cpu"), ("requests", "memory"), ("limits", "memory")]
            violations += [
                f"{where(manifest, prefix + path, container)}: resources.{side}.{amount} is missing"
                for side, amount in wanted
                if (resources.get(side) or {}).get(amount) is None
            ]
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
                mount_path = _path(mount.get("mountPath", ""))
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


# --- wiring: what each object points at exists and means the same thing ------------------

Source = tuple[str, str, str]
"""(kind, name, key) of one ConfigMap or Secret value."""

# Files a mount shows, by path relative to the mount; None when any path under it may exist
# (a writable volume, or a Secret the stack does not render, e.g. `tls.existingSecret`).
Files = dict[PurePosixPath, Source] | None

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
    "logstash": ("/usr/share/logstash/bin", "/usr/share/logstash/data"),
    "kibana": ("/usr/share/kibana/bin",),
}
SYSTEM_PATHS = ("/bin", "/usr/bin", "/dev/null")
# Settings files, and the directory their relative paths are resolved against: Elasticsearch
# resolves against its config directory, Kibana and Logstash against their home.
SETTINGS_BASES: dict[str, str | None] = {
    "elasticsearch.yml": None,
    "kibana.yml": "/usr/share/kibana",
    "logstash.yml": "/usr/share/logstash",
}
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
# Each settings file must bind beyond loopback (the images' own files do; ours replace
# them, so a missing key means the product's default: localhost).
REQUIRED_HOSTS = {
    "elasticsearch.yml": ("network.host",),
    "kibana.yml": ("server.host",),
    "logstash.yml": ("api.http.host",),
}
HOST_SETTINGS = frozenset(
    {"network.host", "network.bind_host", "http.host", "transport.host", "server.host", "api.http.host"}
)
# Addresses that accept connections from other pods: all interfaces, or the pod's network.
GOOD_HOSTS = frozenset({"0.0.0.0", "::", "[::]", "_site_", "_global_"})
# TLS verification: `full` checks the chain and the host name. Transport may stop at the
# chain, because nodes dial each other by pod IP, which no certificate can name in advance.
VERIFICATION_SUFFIXES = ("verification_mode", "verificationMode")
GOOD_VERIFICATION: dict[str, frozenset[str]] = {
    "xpack.security.transport.ssl.verification_mode": frozenset({"full", "certificate"}),
}
FULL_ONLY = frozenset({"full"})
_INSECURE = re.compile(r"(?<![\w-])--insecure\b")
_PIPELINE_SETTING = re.compile(
    r"\b(?P<name>ssl_verification_mode|ssl_certificate_verification)\s*=>\s*\"?(?P<value>[\w-]+)\"?"
)


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


def _object_sources(volume: Manifest) -> Iterator[tuple[str, Manifest]]:
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
    for kind, reference in _object_sources(volume):
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
        stored = any(True for _ in _object_sources(volume))
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
        mounts.append(Mount(_path(mount.get("mountPath", "")), name, files, bool(sub_path)))
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


def selected_templates(
    service: Manifest, manifests: list[Manifest], selector: dict[str, str] | None = None
) -> list[tuple[Manifest, Manifest]]:
    """The pod templates, with their objects, whose labels a Service's (or given) selector matches."""
    selector = selector if selector is not None else (service.get("spec") or {}).get("selector") or {}
    namespace = (service.get("metadata") or {}).get("namespace")
    return [
        (manifest, template)
        for manifest, _, template in pod_templates(manifests)
        if (manifest.get("metadata") or {}).get("namespace") == namespace
        and selector.items() <= ((template.get("metadata") or {}).get("labels") or {}).items()
    ]


def service_selector_violations(manifests: list[Manifest]) -> list[str]:
    """Every Service (headless ones too) and disruption budget selects a pod template of the stack."""
    violations = []
    for service in manifests:
        spec = service.get("spec") or {}
        if service.get("kind") != "Service" or spec.get("type") == "ExternalName":
            continue
        if not spec.get("selector"):
            violations.append(
                f"{ref(service)}: spec.selector is missing, so it routes to no pod of the stack"
            )
        elif not selected_templates(service, manifests):
            violations.append(f"{ref(service)}: spec.selector {spec['selector']} matches no pod template")
    for budget in (m for m in manifests if m.get("kind") == "PodDisruptionBudget"):
        labels = ((budget.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        if not selected_templates(budget, manifests, labels):
            violations.append(
                f"{ref(budget)}: spec.selector.matchLabels {labels} matches no pod template, "
                "so it protects nothing"
            )
    return violations


def _container_ports(template: Manifest) -> list[Manifest]:
    return [port for _, c in containers(template, init=False) for port in c.get("ports") or []]


def target_port_violations(manifests: list[Manifest]) -> list[str]:
    """Each Service port lands on a container port of every selected pod, of the same name.

    A named targetPort must exist; a numeric one must be a containerPort. Either way the
    container port's name must be the Service port's: an `http` port forwarded to
    `transport` resolves, and breaks every client.
    """
    violations = []
    for service in (m for m in manifests if m.get("kind") == "Service"):
        for index, port in enumerate((service.get("spec") or {}).get("ports") or []):
            target = port.get("targetPort", port.get("port"))
            at = f"{ref(service)}: spec.ports[{index}] ({port.get('name')})"
            for manifest, template in selected_templates(service, manifests):
                key = "name" if isinstance(target, str) else "containerPort"
                found = [p for p in _container_ports(template) if p.get(key) == target]
                if not found:
                    violations.append(f"{at}: targetPort {target!r} is no container port of {ref(manifest)}")
                elif port.get("name") and found[0].get("name") != port["name"]:
                    violations.append(
                        f"{at}: targetPort {target!r} is container port {found[0].get('name')!r} "
                        f"({found[0].get('containerPort')}) of {ref(manifest)}, not {port['name']!r}"
                    )
    return violations + ingress_backend_violations(manifests)


def ingress_backend_violations(manifests: list[Manifest]) -> list[str]:
    """Every Ingress backend names a Service of the stack and one of its ports."""
    services = {(m.get("metadata") or {}).get("name"): m for m in manifests if m.get("kind") == "Service"}
    violations = []
    for ingress in (m for m in manifests if m.get("kind") == "Ingress"):
        for index, rule in enumerate((ingress.get("spec") or {}).get("rules") or []):
            for path in (rule.get("http") or {}).get("paths") or []:
                backend = (path.get("backend") or {}).get("service") or {}
                at = f"{ref(ingress)}: spec.rules[{index}] backend {backend.get('name')!r}"
                port = backend.get("port") or {}
                key, wanted = ("name", port["name"]) if "name" in port else ("port", port.get("number"))
                service = services.get(backend.get("name"))
                if service is None:
                    violations.append(f"{at} is no Service of the stack")
                elif not any(p.get(key) == wanted for p in (service.get("spec") or {}).get("ports") or []):
                    violations.append(f"{at} has no port {wanted!r}")
    return violations


def stored_key_violations(
    manifests: list[Manifest], external_secrets: frozenset[str] = frozenset()
) -> list[str]:
    """Every key a volume projects or an env var reads exists; every volume is mounted.

    Secrets the stack does not create (`external_secrets`, e.g. `tls.existingSecret`) are
    exempt: their keys are the user's to provide. A ConfigMap or Secret the render lacks
    otherwise is a violation, as is a missing key: the pod would never start.
    """
    objects = stored_objects(manifests)
    violations: list[str] = []

    def check(at: str, kind: str, reference: Manifest, keys: list[str]) -> None:
        name = reference.get("name", "")
        if reference.get("optional") or (kind == "Secret" and name in external_secrets):
            return
        if (kind, name) not in objects:
            violations.append(f"{at}: {kind} {name!r} is not part of the stack")
            return
        existing = data_of(objects[(kind, name)])
        violations.extend(f"{at}: {kind} {name!r} has no key {key!r}" for key in keys if key not in existing)

    for manifest, prefix, template in pod_templates(manifests):
        mounted = {m.get("name") for _, c in containers(template) for m in c.get("volumeMounts") or []}
        for index, volume in enumerate((template.get("spec") or {}).get("volumes") or []):
            at = f"{ref(manifest)}: {prefix}spec.volumes[{index}] ({volume.get('name')})"
            if volume.get("name") not in mounted:
                violations.append(f"{at}: no container mounts it")
            for kind, reference in _object_sources(volume):
                check(at, kind, reference, [item.get("key", "") for item in reference.get("items") or []])
        for path, container in containers(template):
            at = where(manifest, prefix + path, container)
            for entry in container.get("env") or []:
                value_from = entry.get("valueFrom") or {}
                for field_name, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                    if field_name in value_from:
                        reference = value_from[field_name]
                        check(f"{at} env {entry.get('name')}", kind, reference, [reference.get("key", "")])
            for entry in container.get("envFrom") or []:
                for field_name, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
                    if field_name in entry:
                        check(f"{at} envFrom", kind, entry[field_name], [])
    return violations


def _flatten(settings: Any, prefix: str = "") -> dict[str, Any]:
    """Nested YAML settings as dotted keys, as the products read them."""
    if not isinstance(settings, dict):
        return {prefix: settings} if prefix else {}
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        flat |= _flatten(value, f"{prefix}.{key}" if prefix else str(key))
    return flat


def settings_files(manifests: list[Manifest]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(where, file name, flat settings) of each settings file in the stack's ConfigMaps."""
    for manifest in manifests:
        if manifest.get("kind") != "ConfigMap":
            continue
        for key, text in (manifest.get("data") or {}).items():
            if key in SETTINGS_BASES:
                yield f"{ref(manifest)}: data[{key!r}]", key, _flatten(yaml.safe_load(text) or {})


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
                    settings = _flatten(yaml.safe_load(text) or {}) if isinstance(text, str) else {}
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
                if not _provided(_path(file), mounts, image)
            ]
    return violations


def template_reads(
    manifest: Manifest, template: Manifest, objects: dict[tuple[str, str], Manifest]
) -> tuple[set[Source], set[Source]]:
    """The ConfigMap/Secret values a pod template's containers read, and those they reload.

    Reloaded: an Elasticsearch server's own Secret volumes mounted without subPath. The
    kubelet updates such files in place and Elasticsearch reloads its TLS files and its
    file realm (`users`, `users_roles`, `roles.yml`) when they change (every 5 s), so a
    renewed certificate or a new user needs no restart.
    """
    reads: set[Source] = set()
    reloaded: set[Source] = set()
    for _, container in containers(template):
        reads |= env_sources(container, objects)
        volumes = volumes_by_name(template)
        for mount in container_mounts(manifest, template, container, objects):
            sources = set((mount.files or {}).values())
            reads |= sources
            is_secret = "secret" in volumes.get(mount.volume, {})
            if server_image(container) == "elasticsearch" and is_secret and not mount.sub_path:
                reloaded |= sources
    return reads, reloaded


def config_checksum_violations(manifests: list[Manifest]) -> list[str]:
    """Each pod template's config checksum is the program's checksum of exactly what it mounts.

    A ConfigMap value can only change through the program's inputs, and the program
    computes the annotation in the same run, with `components.specs.common.config_checksum`.
    So rather than re-render once per key (with inputs that would have to be invented for
    each key), this recomputes that function over the ConfigMap keys the template's
    containers can read, taken from the render itself, and demands equality: then
    changing any one of them changes the annotation, and a key of another component's
    ConfigMap cannot be part of it. It catches a checksum over nothing, over part of the
    files (the pipeline only), or over another component's settings.
    """
    objects = stored_objects(manifests)
    violations = []
    for manifest, prefix, template in pod_templates(manifests):
        reads, _ = template_reads(manifest, template, objects)
        config = sorted(source for source in reads if source[0] == "ConfigMap")
        annotation = ((template.get("metadata") or {}).get("annotations") or {}).get(CHECKSUM_ANNOTATION)
        if not config and annotation is None:
            continue
        files = {key: data_of(objects.get((kind, name), {})).get(key, "") for kind, name, key in config}
        at = f"{ref(manifest)}: {prefix}metadata.annotations[{CHECKSUM_ANNOTATION!r}]"
        if len(files) < len(config):
            violations.append(f"{at}: the template reads keys of the same name from two ConfigMaps")
        elif annotation != config_checksum(files):
            keys = ", ".join(f"{name}/{key}" for _, name, key in config) or "nothing"
            violations.append(f"{at} is not the checksum of what the pod reads ({keys})")
    return violations


def changed_sources(before: list[Manifest], after: list[Manifest]) -> set[Source]:
    """Every ConfigMap/Secret key whose value differs between two renders."""
    old, new = stored_objects(before), stored_objects(after)
    return {
        (kind, name, key)
        for (kind, name) in old.keys() | new.keys()
        for key in data_of(old.get((kind, name), {})).keys() | data_of(new.get((kind, name), {})).keys()
        if data_of(old.get((kind, name), {})).get(key) != data_of(new.get((kind, name), {})).get(key)
    }


def roll_violations(before: list[Manifest], after: list[Manifest]) -> list[str]:
    """Between two renders, exactly the pod templates that read a changed value roll.

    A template reading a changed ConfigMap or Secret key must change (its checksums), or
    its pods keep the old value; the checksums of one reading none of them must not, or a
    change to one component restarts another. Keys a template reloads by itself need
    neither. A template may change for reasons of its own (a literal env value).
    """
    changed = changed_sources(before, after)
    objects = stored_objects(before)
    templates_after = {ref(m): t for m, _, t in pod_templates(after)}
    violations = []
    for manifest, prefix, template in pod_templates(before):
        reads, reloaded = template_reads(manifest, template, objects)
        new = templates_after.get(ref(manifest), {})
        must = sorted((reads - reloaded) & changed)
        if must and new == template:
            keys = ", ".join(f"{kind} {name}/{key}" for kind, name, key in must)
            violations.append(f"{ref(manifest)}: {prefix}metadata does not change when {keys} changes")
        if _annotations(new) != _annotations(template) and not reads & changed:
            violations.append(
                f"{ref(manifest)}: {prefix}metadata.annotations change although nothing it reads changed"
            )
    return violations


def _annotations(template: Manifest) -> dict[str, str]:
    return dict((template.get("metadata") or {}).get("annotations") or {})


def _host_problem(value: Any) -> bool:
    """Whether a bind address leaves other pods out: only loopback or an unknown value."""
    values = value if isinstance(value, list) else [value]
    return not any(str(v) in GOOD_HOSTS for v in values)


def _verification_allowed(setting: str) -> frozenset[str]:
    return GOOD_VERIFICATION.get(setting, FULL_ONLY)


def exposure_violations(manifests: list[Manifest]) -> list[str]:
    """Bind addresses reach other pods and TLS verification is on, checked by value.

    Each value must be one of a short list of good ones (`0.0.0.0`, `full`, ...), not
    merely other than one bad literal: `127.0.0.1`, `localhost` and `_local_` are all
    loopback, and `certificate` skips the host name check as surely as `none` skips all.
    Covers the settings files, the pipelines' Elasticsearch outputs and `curl --insecure`.
    """
    violations = []
    for at, name, settings in settings_files(manifests):
        for setting in REQUIRED_HOSTS[name]:
            if setting not in settings:
                violations.append(f"{at}: {setting} is not set, so it binds to loopback only")
        for setting, value in settings.items():
            if setting in HOST_SETTINGS and _host_problem(value):
                violations.append(f"{at}: {setting} is {value!r}, not one of {sorted(GOOD_HOSTS)}")
            if setting.endswith(VERIFICATION_SUFFIXES) and str(value) not in _verification_allowed(setting):
                allowed = sorted(_verification_allowed(setting))
                violations.append(f"{at}: {setting} is {value!r}, not one of {allowed}")
    for manifest in manifests:
        if manifest.get("kind") != "ConfigMap":
            continue
        for key, text in (manifest.get("data") or {}).items():
            if not isinstance(text, str):
                continue
            lines = [line.split("#", 1)[0] for line in text.splitlines()]
            if key.endswith(".conf"):
                violations += [
                    f"{ref(manifest)}: data[{key!r}] {match['name']} is {match['value']!r}, not "
                    f"{'full' if match['name'] == 'ssl_verification_mode' else 'true'}"
                    for line in lines
                    for match in _PIPELINE_SETTING.finditer(line)
                    if match["value"] not in ("full", "true")
                ]
            elif key.endswith(".sh"):
                violations += [f"{ref(manifest)}: data[{key!r}] {p}" for p in _insecure_curl(lines)]
    for manifest, prefix, template in pod_templates(manifests):
        for path, container in containers(template):
            commands = [*(container.get("command") or []), *(container.get("args") or [])]
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                commands += ((container.get(probe) or {}).get("exec") or {}).get("command") or []
            at = where(manifest, prefix + path, container)
            violations += [f"{at}: {problem}" for problem in _insecure_curl(commands)]
    return violations


def _insecure_curl(lines: list[str]) -> list[str]:
    """`--insecure`, or curl's `-k` (alone or in a cluster such as `-fsSk`), in commands or a script."""
    problems = []
    for line in lines:
        tokens = line.split()
        curl = any(token.endswith("curl") for token in tokens)
        for token in tokens:
            cluster = token.startswith("-") and not token.startswith("--") and "k" in token[1:]
            if _INSECURE.search(token) or (curl and cluster):
                problems.append(f"{token!r} turns TLS verification off: {line.strip()[:80]}")
    return problems


# Settings the Kibana image's entrypoint turns into command-line flags: `kibana-docker`
# (elastic/kibana, src/dev/build/tasks/os_packages/docker_generator/resources/base/bin/)
# reads the env var named after each setting in its `kibana_vars` list (upper case, dots
# to underscores) and runs Kibana with `--setting=value`, which /proc/<pid>/cmdline shows
# to every process on the node. These are the list's entries that hold credentials.
KIBANA_FLAG_SETTINGS = (
    "elasticsearch.username",
    "elasticsearch.password",
    "elasticsearch.serviceAccountToken",
    "elasticsearch.ssl.keyPassphrase",
    "elasticsearch.ssl.keystore.password",
    "elasticsearch.ssl.truststore.password",
    "monitoring.ui.elasticsearch.username",
    "monitoring.ui.elasticsearch.password",
    "server.ssl.keyPassphrase",
    "server.ssl.keystore.password",
    "server.ssl.truststore.password",
    "xpack.security.encryptionKey",
    "xpack.encryptedSavedObjects.encryptionKey",
    "xpack.reporting.encryptionKey",
)
KIBANA_FLAG_VARIABLES = frozenset(s.upper().replace(".", "_") for s in KIBANA_FLAG_SETTINGS)


def becomes_flag(image: str, variable: str) -> bool:
    """Whether `image`'s entrypoint turns env var `variable` into a command-line flag.

    Kibana: the names above. Elasticsearch: its docker-entrypoint.sh passes every env var
    with a dotted name (`cluster.name=x`) as `-Ecluster.name=x`; ELASTIC_PASSWORD it pipes
    to `elasticsearch-keystore add -x bootstrap.password` on stdin instead.
    """
    if image == "kibana":
        return variable in KIBANA_FLAG_VARIABLES
    return image == "elasticsearch" and "." in variable


_CURL_CREDENTIALS = re.compile(r"(?<![\w-])(-u|--user|-H|--header|--oauth2-bearer)\b")


def _secret_variables(container: Manifest) -> set[str]:
    """Names of the container's env vars whose value comes from a Secret."""
    return {
        entry["name"]
        for entry in container.get("env") or []
        if "secretKeyRef" in (entry.get("valueFrom") or {})
    }


def _secret_on_command_line(line: str, secrets: set[str]) -> str | None:
    """Why `line` puts a secret on a command line, if it does.

    Kubernetes expands `$(VAR)` in command and args before exec, and a shell expands
    `$VAR` into the arguments of the program it runs: either way the value is in
    /proc/<pid>/cmdline. A curl credential option (`-u`, a header) with a variable is one too.
    """
    for name in secrets:
        if f"$({name})" in line:
            return f"$({name}) is expanded into the command line"
    if any(token.endswith("curl") for token in line.split()) and "$" in line:
        match = _CURL_CREDENTIALS.search(line)
        if match:
            return f"curl {match[1]} with a variable puts it on the command line"
    return None


# Repository client settings Elastic marks Secure: they are read only from the keystore
# (elastic.co/docs/reference/elasticsearch/configuration-reference/s3-repository-settings,
# the gcs and azure repository pages), and in a settings file they are a leaked secret.
_SECURE_CLIENT_SETTING = re.compile(
    r"^(s3|gcs|azure)\.client\.[^.]+\.(access_key|secret_key|session_token|credentials_file|account|key|sas_token)$"
)


def _secure_settings_in_files(manifest: Manifest) -> list[str]:
    """Secure settings written into a ConfigMap's YAML settings file, where anyone can read them."""
    violations = []
    for key, text in (manifest.get("data") or {}).items():
        if not (isinstance(text, str) and key.endswith((".yml", ".yaml"))):
            continue
        try:
            settings = yaml.safe_load(text)
        except yaml.YAMLError:
            continue
        if isinstance(settings, dict):
            violations += [
                f"{ref(manifest)}: data[{key!r}] sets the secure setting {name}; it belongs in the keystore"
                for name in settings
                if _SECURE_CLIENT_SETTING.match(str(name))
            ]
    return violations


def secret_exposure_violations(manifests: list[Manifest]) -> list[str]:
    """Secrets never reach a command line: not by an entrypoint's env-to-flag mapping,
    not by `$(VAR)` in command/args or probes, not by curl options in a mounted script;
    and secure settings (repository credentials) never reach a settings file."""
    violations = []
    for manifest, prefix, template in pod_templates(manifests):
        for path, container in containers(template):
            at = where(manifest, prefix + path, container)
            secrets = _secret_variables(container)
            # An overridden command skips the entrypoint, and its mapping with it.
            violations += [
                f"{at}: env {name} comes from a Secret, and the image's entrypoint turns it into a flag"
                for name in sorted(secrets)
                if becomes_flag(server_image(container), name)
            ]
            commands = [*(container.get("command") or []), *(container.get("args") or [])]
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                commands += ((container.get(probe) or {}).get("exec") or {}).get("command") or []
            for line in commands:
                problem = _secret_on_command_line(str(line), secrets)
                if problem:
                    violations.append(f"{at}: {problem}")
    for manifest in manifests:
        if manifest.get("kind") != "ConfigMap":
            continue
        violations += _secure_settings_in_files(manifest)
        for key, text in (manifest.get("data") or {}).items():
            if isinstance(text, str) and key.endswith(".sh"):
                for line in text.splitlines():
                    problem = _secret_on_command_line(line.split("#", 1)[0], set())
                    if problem:
                        violations.append(f"{ref(manifest)}: data[{key!r}] {problem}")
    return violations


@dataclass(frozen=True)
class Stack:
    """What a check may need to know of the stack beyond its manifests."""

    namespace: str
    create_namespace: bool = False
    external_secrets: frozenset[str] = frozenset()
    """Secrets the pods use but the stack does not create, e.g. `elasticsearch.tls.existingSecret`."""


REPLACED_ON_CHANGE = ("kubernetes:core/v1:Secret::", "kubernetes:core/v1:ConfigMap::")
WORKLOAD_TYPES = tuple(
    f"kubernetes:{group}:{kind}"
    for group, kind in (
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "DaemonSet"),
        ("batch/v1", "Job"),
    )
)


def replacement_cascade_violations(resources: list[Record]) -> list[str]:
    """No workload's inputs hold the outputs of a Secret or ConfigMap.

    pulumi-kubernetes replaces a Secret or ConfigMap whose data changes, deleting it first
    (its name is fixed), and the engine then replaces every resource whose inputs hold its
    outputs: a StatefulSet with all its pods at once. Workloads name them as literals and
    depend on them for order only (`dependsOn`).
    """
    return [
        f"{record['type'].split(':')[-1]}/{record['name']}: input {key!r} holds the outputs of {ref}"
        for record in resources
        if record["type"] in WORKLOAD_TYPES
        for key, refs in (record.get("propertyDependencies") or {}).items()
        for ref in refs
        if ref.startswith(REPLACED_ON_CHANGE)
    ]


CHECKS: dict[str, Check] = {
    "namespace": lambda manifests, _, stack: namespace_violations(
        manifests, stack.namespace, stack.create_namespace
    ),
    "data_volume": lambda manifests, *_: data_volume_violations(manifests),
    "data_protection": lambda manifests, resources, _: data_protection_violations(manifests, resources),
    "heap": lambda manifests, *_: heap_violations(manifests),
    "resources": lambda manifests, *_: resource_violations(manifests),
    "readiness": lambda manifests, *_: readiness_violations(manifests),
    "volume_source": lambda manifests, *_: volume_source_violations(manifests),
    "config_shadowing": lambda manifests, *_: config_shadowing_violations(manifests),
    "checksum": lambda manifests, *_: checksum_violations(manifests),
    "empty_value": lambda manifests, *_: empty_value_violations(manifests),
    "service_selector": lambda manifests, *_: service_selector_violations(manifests),
    "target_port": lambda manifests, *_: target_port_violations(manifests),
    "stored_key": lambda manifests, _, stack: stored_key_violations(manifests, stack.external_secrets),
    "file_path": lambda manifests, *_: file_path_violations(manifests),
    "config_checksum": lambda manifests, *_: config_checksum_violations(manifests),
    "exposure": lambda manifests, *_: exposure_violations(manifests),
    "secret_exposure": lambda manifests, *_: secret_exposure_violations(manifests),
    "replacement_cascade": lambda _, resources, __: replacement_cascade_violations(resources),
}
WIRING_CHECKS = ("service_selector", "target_port", "stored_key", "file_path", "config_checksum", "exposure")
"""The checks of issue 10, proven by `tests/fixtures/wiring/` rather than `broken/`."""


def all_violations(
    manifests: list[Manifest],
    resources: list[Record],
    namespace: str,
    create_namespace: bool = False,
    external_secrets: frozenset[str] = frozenset(),
) -> list[str]:
    """Every check's violations, each prefixed with the check's name."""
    stack = Stack(namespace, create_namespace, external_secrets)
    return [
        f"[{name}] {violation}"
        for name, check in CHECKS.items()
        for violation in check(manifests, resources, stack)
    ]
