"""A change rolls exactly the pods that read it, and replaces no workload with it."""

from __future__ import annotations

from components.specs.common import config_checksum
from tests.invariants.files import Source, container_mounts, data_of, env_sources, stored_objects
from tests.invariants.objects import (
    CHECKSUM_ANNOTATION,
    Manifest,
    Record,
    containers,
    pod_templates,
    ref,
    server_image,
    volumes_by_name,
)


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
