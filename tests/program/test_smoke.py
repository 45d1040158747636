from __future__ import annotations

from collections.abc import Callable

from tests.conftest import find
from tools.render import Rendered


def test_defaults_render_every_component(render: Callable[..., Rendered]) -> None:
    manifests = render().manifests
    assert find(manifests, "StatefulSet", "elk-elasticsearch")
    assert find(manifests, "StatefulSet", "elk-logstash")
    assert find(manifests, "Deployment", "elk-kibana")


def test_each_render_is_isolated(render: Callable[..., Rendered]) -> None:
    first = render(namespace="elk-one").manifests
    second = render(namespace="elk-two").manifests
    assert {m["metadata"]["namespace"] for m in first} == {"elk-one"}
    assert {m["metadata"]["namespace"] for m in second} == {"elk-two"}
