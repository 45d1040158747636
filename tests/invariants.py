"""Invariants every rendered stack must hold, as pure checks over manifests.

Each check returns human-readable violations (empty = OK), naming the object and the
offending field, so a failing test reads like a review comment. The checks know nothing
about how the program builds its objects: they read plain manifests, which is what lets
them run on hand-written YAML too (`tests/fixtures/broken/`), proving each can fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any

from components.units import parse_jvm_size, parse_quantity

Manifest = dict[str, Any]
Record = dict[str, Any]
Check = Callable[[list[Manifest], list[Record], str, bool], list[str]]

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


CHECKS: dict[str, Check] = {
    "namespace": lambda manifests, _, namespace, create: namespace_violations(manifests, namespace, create),
    "data_volume": lambda manifests, *_: data_volume_violations(manifests),
    "data_protection": lambda manifests, resources, *_: data_protection_violations(manifests, resources),
    "heap": lambda manifests, *_: heap_violations(manifests),
    "resources": lambda manifests, *_: resource_violations(manifests),
    "readiness": lambda manifests, *_: readiness_violations(manifests),
    "volume_source": lambda manifests, *_: volume_source_violations(manifests),
    "config_shadowing": lambda manifests, *_: config_shadowing_violations(manifests),
    "checksum": lambda manifests, *_: checksum_violations(manifests),
    "empty_value": lambda manifests, *_: empty_value_violations(manifests),
}


def all_violations(
    manifests: list[Manifest], resources: list[Record], namespace: str, create_namespace: bool = False
) -> list[str]:
    """Every check's violations, each prefixed with the check's name."""
    return [
        f"[{name}] {violation}"
        for name, check in CHECKS.items()
        for violation in check(manifests, resources, namespace, create_namespace)
    ]
