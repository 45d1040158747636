"""JVM heaps within their share of the container's memory limit."""

from __future__ import annotations

from decimal import Decimal

from components.configuration.units import parse_jvm_size, parse_quantity
from tests.invariants.objects import Manifest, containers, pod_templates, server_image, where

# Heap options variable -> the share of the container's memory limit the heap may take.
HEAP_SHARES = {"ES_JAVA_OPTS": Decimal("0.5"), "LS_JAVA_OPTS": Decimal("0.75")}
HEAP_VARIABLE_BY_IMAGE = {"elasticsearch": "ES_JAVA_OPTS", "logstash": "LS_JAVA_OPTS"}


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
