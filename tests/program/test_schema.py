"""Every rendered manifest passes the official Kubernetes schemas, strictly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest

from tests.conftest import STACKS
from tools.render import Rendered

KUBERNETES_VERSIONS = ["1.25.0", "1.37.0"]


def schema_errors(manifests: list[dict[str, Any]], version: str) -> list[str]:
    errors = []
    for manifest in manifests:
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            errors.append(f"{manifest['kind']}/{manifest['metadata']['name']}: {error.message}")
    return errors


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("stack", STACKS)
def test_stack_manifests_are_schema_valid(
    rendered_stacks: dict[str, Rendered], stack: str, version: str
) -> None:
    manifests = rendered_stacks[stack].manifests
    assert len(manifests) >= 12
    assert schema_errors(manifests, version) == []


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_option_renders_valid(render: Callable[..., Rendered], version: str) -> None:
    rendered = render(
        createNamespace=True,
        imagePullSecrets=["regcred"],
        logstash={"replicas": 2, "service": {"type": "LoadBalancer"}},
        kibana={"service": {"type": "NodePort"}, "ingress": {"host": "k.example.com", "className": "nginx"}},
    )
    assert schema_errors(rendered.manifests, version) == []


def test_the_validator_rejects_what_it_should() -> None:
    """Strict mode must flag an unknown field, or the tests above prove nothing."""
    bad = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "namespace": "y"},
        "data": {"a": "b"},
        "dta": {},
    }
    assert schema_errors([bad], "1.37.0") != []


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_large_benchmark_cluster_renders_valid(
    invariant_stacks: dict[str, Rendered], version: str
) -> None:
    """benchmarks/large.yaml must stay a valid stack, or `make bench` measures an error.

    Its render is the one the invariants check (stack `large`, from that file), made once.
    """
    rendered = invariant_stacks["large"]
    assert sum(1 for m in rendered.manifests if m["kind"] == "PersistentVolumeClaim") == 3 + 20 + 3
    assert schema_errors(rendered.manifests, version) == []
