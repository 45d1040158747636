"""The shared builders of `components.specs.common`, as every component uses them."""

from __future__ import annotations

from collections.abc import Callable

from components.configuration import Resources
from components.specs import common
from tools.render import Rendered

Render = Callable[..., Rendered]
NODE_SETS = {
    "nodeSets": [
        {"name": "master", "replicas": 3, "roles": ["master"]},
        {"name": "data", "replicas": 2, "roles": ["data", "ingest"]},
    ]
}


def test_every_headless_service_skips_the_providers_await(
    rendered_stacks: dict[str, Rendered], render: Render
) -> None:
    """The provider's await of a headless Service can keep the object from before an update.

    Its state then lags the cluster, and the `pulumi preview` after a new `version` shows
    the version label change again (found by tests/e2e/test_changes.py).
    """
    renders = [*rendered_stacks.values(), render(elasticsearch=NODE_SETS)]
    headless = [
        manifest
        for rendered in renders
        for manifest in rendered.manifests
        if manifest["kind"] == "Service" and manifest["spec"].get("clusterIP") == "None"
    ]
    # qa and test: Elasticsearch and Logstash; node sets: one per set, and Logstash's.
    assert len(headless) == 2 + 2 + 3
    awaited = [
        manifest["metadata"]["name"]
        for manifest in headless
        if manifest["metadata"].get("annotations", {}).get("pulumi.com/skipAwait") != "true"
    ]
    assert awaited == []


def test_ephemeral_storage_defaults_where_the_user_set_no_disk() -> None:
    scratch = common.Scratch(request="256Mi", limit="1Gi")
    defaults = common.container_resources(Resources(), scratch)
    assert defaults["requests"] == {"ephemeral-storage": "256Mi"}
    assert defaults["limits"] == {"ephemeral-storage": "1Gi"}
    own = Resources.model_validate({"limits": {"ephemeralStorage": "512Mi", "memory": "1Gi"}})
    assert common.container_resources(own, scratch)["limits"] == {
        "memory": "1Gi",
        "ephemeral-storage": "512Mi",
    }
    assert common.container_resources(own, scratch)["requests"]["ephemeral-storage"] == "512Mi", (
        "follows the limit"
    )


def test_a_default_disk_limit_rises_to_a_larger_request() -> None:
    big = Resources.model_validate({"requests": {"ephemeralStorage": "4Gi"}})
    amounts = common.container_resources(big, common.Scratch(request="256Mi", limit="1Gi"))
    assert (amounts["requests"]["ephemeral-storage"], amounts["limits"]["ephemeral-storage"]) == (
        "4Gi",
        "4Gi",
    )


def test_client_services_skip_the_providers_await_but_a_load_balancer_keeps_it(render: Render) -> None:
    """The workloads' readiness is awaited; a Service's 10 s settle only held Logstash and Kibana back."""
    rendered = render(
        kibana={"service": {"type": "LoadBalancer"}}, logstash={"service": {"type": "NodePort"}}
    )
    services = {
        m["metadata"]["name"]: (
            m["spec"]["type"],
            m["metadata"].get("annotations", {}).get("pulumi.com/skipAwait"),
        )
        for m in rendered.manifests
        if m["kind"] == "Service" and m["spec"].get("clusterIP") != "None"
    }
    assert services == {
        "elk-elasticsearch": ("ClusterIP", "true"),
        "elk-logstash": ("NodePort", "true"),
        "elk-kibana": ("LoadBalancer", None),
    }
