"""Where a namespace's LimitRanges refuse what the stack asks for, before anything is deployed.

A LimitRange is checked by the API server's admission when a pod or claim is created: a
container over the maximum, under the minimum, or past the limit-to-request ratio is
refused, and the controllers retry until `up` times out. Where a container leaves a limit
unset, the LimitRange's default fills it in, and a default below the container's request
is refused the same way. A namespace user may read the LimitRanges, and the render knows
every container and claim, so `make up` checks them first (`tools/quota.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from components.configuration.units import parse_quantity

Manifest = dict[str, Any]
TEMPLATED = {"StatefulSet", "Deployment", "Job"}
RESOURCES = ("cpu", "memory", "ephemeral-storage")


def section_keys(owner: str) -> str:
    """The stack file keys that size a pod, by `<Kind> <name>` of the object that makes it.

    The Jobs' pods have fixed sizes; only the workloads' come from the stack file.
    """
    kind, _, name = owner.partition(" ")
    for component in ("elasticsearch", "logstash", "kibana"):
        if kind != "Job" and name.startswith(f"elk-{component}"):
            return f"{component}.resources"
    return "nothing in the stack file: the Job's size is fixed; ask for the LimitRange to allow it"


def _quantity(values: dict[str, Any] | None, resource: str) -> Decimal | None:
    value = (values or {}).get(resource)
    return None if value is None else parse_quantity(str(value))


def pod_templates(manifests: list[Manifest]) -> Iterator[tuple[str, Manifest]]:
    """Each rendered pod spec, with `<Kind> <name>` of the object that makes it."""
    for manifest in manifests:
        if manifest["kind"] in TEMPLATED:
            name = f"{manifest['kind']} {manifest['metadata']['name']}"
            yield name, manifest["spec"]["template"]["spec"]


def _text(values: dict[str, Any] | None, resource: str) -> str:
    return str((values or {}).get(resource))


def container_problems(item: Manifest, owner: str, container: Manifest) -> list[str]:
    """Where one `type: Container` limit refuses one container, in the quantities as written."""
    resources = container.get("resources") or {}
    requests, limits = resources.get("requests"), resources.get("limits")
    problems = []
    for resource in RESOURCES:
        request, limit = _quantity(requests, resource), _quantity(limits, resource)
        shown = _text(limits, resource)
        if limit is None:
            limit, shown = _quantity(item.get("default"), resource), _text(item.get("default"), resource)
            if limit is not None and request is not None and limit < request:
                problems.append(
                    f"no limits.{resource} is set, and the default {shown} is below the request "
                    f"{_text(requests, resource)}"
                )
        maximum, minimum = _quantity(item.get("max"), resource), _quantity(item.get("min"), resource)
        ratio = _quantity(item.get("maxLimitRequestRatio"), resource)
        if maximum is not None and limit is not None and limit > maximum:
            problems.append(
                f"limits.{resource} {shown} is above the maximum {_text(item.get('max'), resource)}"
            )
        if minimum is not None and request is not None and request < minimum:
            least = _text(item.get("min"), resource)
            problems.append(f"requests.{resource} {_text(requests, resource)} is below the minimum {least}")
        if ratio is not None and limit is not None and request and limit / request > ratio:
            problems.append(
                f"limits.{resource} is {limit / request:.3g} times the request, above the ratio {ratio}"
            )
    return [f"{owner}, container {container.get('name')}: {problem}" for problem in problems]


def pod_problems(item: Manifest, owner: str, spec: Manifest) -> list[str]:
    """Where one `type: Pod` limit refuses a pod: its containers' limits summed."""
    problems = []
    for resource in RESOURCES:
        maximum = _quantity(item.get("max"), resource)
        limits = [_quantity((c.get("resources") or {}).get("limits"), resource) for c in spec["containers"]]
        total = sum((limit for limit in limits if limit is not None), Decimal(0))
        if maximum is not None and total > maximum:
            problems.append(
                f"{owner}: its containers' limits.{resource} add up to more than the pod maximum "
                f"{_text(item.get('max'), resource)}"
            )
    return problems


def claim_problems(item: Manifest, claim: Manifest) -> list[str]:
    """Where one `type: PersistentVolumeClaim` limit refuses one claim's size."""
    size = parse_quantity(str(claim["spec"]["resources"]["requests"]["storage"]))
    maximum, minimum = _quantity(item.get("max"), "storage"), _quantity(item.get("min"), "storage")
    claim_text = f"PersistentVolumeClaim {claim['metadata']['name']}: storage "
    claim_text += str(claim["spec"]["resources"]["requests"]["storage"])
    if maximum is not None and size > maximum:
        return [f"{claim_text} is above the maximum {_text(item.get('max'), 'storage')}"]
    if minimum is not None and size < minimum:
        return [f"{claim_text} is below the minimum {_text(item.get('min'), 'storage')}"]
    return []


def limit_range_problems(limit_ranges: list[Manifest], manifests: list[Manifest]) -> list[str]:
    """Every refusal the namespace's LimitRanges would make of the rendered stack, one line each."""
    found = []
    for limit_range in limit_ranges:
        name = limit_range["metadata"]["name"]
        for item in (limit_range.get("spec") or {}).get("limits") or []:
            lines: list[str] = []
            if item.get("type") == "Container":
                for owner, spec in pod_templates(manifests):
                    for container in [*(spec.get("initContainers") or []), *spec["containers"]]:
                        keys = section_keys(owner)
                        lines += [
                            f"{line} (change {keys})" for line in container_problems(item, owner, container)
                        ]
            if item.get("type") == "Pod":
                for owner, spec in pod_templates(manifests):
                    keys = section_keys(owner)
                    lines += [f"{line} (change {keys})" for line in pod_problems(item, owner, spec)]
            if item.get("type") == "PersistentVolumeClaim":
                for claim in (m for m in manifests if m["kind"] == "PersistentVolumeClaim"):
                    lines += claim_problems(item, claim)
            found += [f"LimitRange {name}: {line}" for line in lines]
    return found
