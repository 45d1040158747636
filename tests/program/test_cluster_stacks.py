"""Multi-node clusters render as every stack must: schema-valid, holding every invariant, restricted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests import invariants
from tests.clusters import EXAMPLE, NAMESPACE, SIMPLE_THREE
from tests.pod_security import pod_templates, restricted_violations
from tests.program.test_schema import KUBERNETES_VERSIONS, schema_errors
from tools.render import Rendered

Render = Callable[..., Rendered]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("elasticsearch", [EXAMPLE, SIMPLE_THREE], ids=["node-sets", "replicas-3"])
def test_cluster_renders_schema_valid(render: Render, elasticsearch: dict[str, Any], version: str) -> None:
    assert schema_errors(render(elasticsearch=elasticsearch).manifests, version) == []


@pytest.mark.parametrize("elasticsearch", [EXAMPLE, SIMPLE_THREE], ids=["node-sets", "replicas-3"])
def test_cluster_holds_every_invariant(render: Render, elasticsearch: dict[str, Any]) -> None:
    """Heap, data volumes, protection, probes and checksums hold for every node set."""
    rendered = render(elasticsearch=elasticsearch)
    assert invariants.all_violations(rendered.manifests, rendered.resources, NAMESPACE) == []


def test_cluster_pods_meet_the_restricted_standard(rendered_example: Rendered) -> None:
    templates = pod_templates(rendered_example.manifests)
    assert len(templates) >= 2
    assert [
        v for where, metadata, spec in templates for v in restricted_violations(spec, metadata, where)
    ] == []
