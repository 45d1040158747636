"""What each object points at exists: Services and budgets select pods, ports and keys exist."""

from __future__ import annotations

from tests.invariants.files import data_of, object_sources, stored_objects
from tests.invariants.objects import Manifest, containers, pod_templates, ref, where


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
            for kind, reference in object_sources(volume):
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
