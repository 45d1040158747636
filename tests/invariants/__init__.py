"""Invariants every rendered stack must hold, as pure checks over manifests.

Each check returns human-readable violations (empty = OK), naming the object and the
offending field, so a failing test reads like a review comment. The checks know nothing
about how the program builds its objects: they read plain manifests, which is what lets
them run on hand-written YAML too (`tests/fixtures/broken/`, `tests/fixtures/wiring/`),
proving each can fail. The wiring checks follow references between objects: Service to
pods and ports, volumes and env to ConfigMap/Secret keys, commands and settings to
mounted files, checksums to what each pod reads.

One module a subject: `namespace`, `data` (the data volume and its protection), `heaps`,
`pods` (requests, probes, volume sources, config directories, empty values), `wiring`
(selectors, ports, stored keys), `paths` (named files exist), `rolls` (checksums, rolls
and replacements), `exposure` (bind addresses, TLS verification) and `secrets`; `objects`
and `files` are how they read manifests. Here: the table of checks, and every name
callers use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tests.invariants.data import (
    PVC_TYPE,
    data_claim_names,
    data_protection_violations,
    data_volume_violations,
)
from tests.invariants.exposure import exposure_violations
from tests.invariants.files import Source, stored_objects
from tests.invariants.heaps import heap_violations
from tests.invariants.namespace import namespace_violations
from tests.invariants.objects import CHECKSUM_ANNOTATION, Manifest, Record, pod_template, pod_templates, ref
from tests.invariants.paths import file_path_violations
from tests.invariants.pods import (
    checksum_violations,
    config_shadowing_violations,
    empty_value_violations,
    liveness_violations,
    readiness_violations,
    resource_violations,
    volume_source_violations,
)
from tests.invariants.rolls import (
    changed_sources,
    config_checksum_violations,
    replacement_cascade_violations,
    roll_violations,
    template_reads,
)
from tests.invariants.secrets import secret_env_violations, secret_exposure_violations
from tests.invariants.wiring import (
    service_selector_violations,
    stored_key_violations,
    target_port_violations,
)

__all__ = [
    "CHECKS",
    "CHECKSUM_ANNOTATION",
    "PVC_TYPE",
    "WIRING_CHECKS",
    "Check",
    "Manifest",
    "Record",
    "Source",
    "Stack",
    "all_violations",
    "changed_sources",
    "checksum_violations",
    "config_checksum_violations",
    "config_shadowing_violations",
    "data_claim_names",
    "data_protection_violations",
    "data_volume_violations",
    "empty_value_violations",
    "exposure_violations",
    "file_path_violations",
    "heap_violations",
    "liveness_violations",
    "namespace_violations",
    "pod_template",
    "pod_templates",
    "readiness_violations",
    "ref",
    "replacement_cascade_violations",
    "resource_violations",
    "roll_violations",
    "secret_env_violations",
    "secret_exposure_violations",
    "service_selector_violations",
    "stored_key_violations",
    "stored_objects",
    "target_port_violations",
    "template_reads",
    "volume_source_violations",
]


Check = Callable[[list[Manifest], list[Record], "Stack"], list[str]]


@dataclass(frozen=True)
class Stack:
    """What a check may need to know of the stack beyond its manifests."""

    namespace: str
    create_namespace: bool = False
    external_secrets: frozenset[str] = frozenset()
    """Secrets the pods use but the stack does not create, e.g. `elasticsearch.tls.existingSecret`."""


CHECKS: dict[str, Check] = {
    "namespace": lambda manifests, _, stack: namespace_violations(
        manifests, stack.namespace, stack.create_namespace
    ),
    "data_volume": lambda manifests, *_: data_volume_violations(manifests),
    "data_protection": lambda manifests, resources, _: data_protection_violations(manifests, resources),
    "heap": lambda manifests, *_: heap_violations(manifests),
    "resources": lambda manifests, *_: resource_violations(manifests),
    "readiness": lambda manifests, *_: readiness_violations(manifests),
    "liveness": lambda manifests, *_: liveness_violations(manifests),
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
    "secret_env": lambda manifests, *_: secret_env_violations(manifests),
    "replacement_cascade": lambda _, resources, __: replacement_cascade_violations(resources),
}
WIRING_CHECKS = ("service_selector", "target_port", "stored_key", "file_path", "config_checksum", "exposure")
"""The checks that follow references between objects, proven by `tests/fixtures/wiring/`, not `broken/`."""


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
