"""The NetworkPolicies: which pods and ports each admits, from where, and turning them off."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import STACKS, find
from tools.render import Rendered

Render = Callable[..., Rendered]


@pytest.mark.parametrize("stack", STACKS)
def test_network_policies_select_the_right_pods_and_ports(
    rendered_stacks: dict[str, Rendered], stack: str
) -> None:
    manifests = rendered_stacks[stack].manifests

    def policy(app: str) -> dict[str, Any]:
        spec: dict[str, Any] = find(manifests, "NetworkPolicy", f"elk-{app}")["spec"]
        assert spec["policyTypes"] == ["Ingress"]
        assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == app
        return spec

    def sources(rule: dict[str, Any]) -> list[str]:
        return sorted(peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for peer in rule["from"])

    es_http, es_transport = policy("elasticsearch")["ingress"]
    assert es_http["ports"] == [{"protocol": "TCP", "port": 9200}]
    assert sources(es_http) == [
        "elasticsearch",
        "elasticsearch-setup",
        "elasticsearch-topology",
        "kibana",
        "logstash",
    ]
    assert es_transport["ports"] == [{"protocol": "TCP", "port": 9300}]
    assert sources(es_transport) == ["elasticsearch"]
    (logstash_rule,) = policy("logstash")["ingress"]
    assert logstash_rule["ports"] == [{"protocol": "TCP", "port": 5000}, {"protocol": "TCP", "port": 5044}]
    assert logstash_rule["from"] == [{"podSelector": {}}], "the whole namespace by default"
    (kibana_rule,) = policy("kibana")["ingress"]
    assert kibana_rule["ports"] == [{"protocol": "TCP", "port": 5601}]
    # Every pod a policy admits exists in the stack, so the selectors are not typos.
    pod_names = {
        m["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
        for m in manifests
        if m["kind"] in ("StatefulSet", "Deployment", "Job")
    }
    assert set(sources(es_http)) <= pod_names


def test_kibana_sources_from_config(render: Render) -> None:
    rendered = render(
        networkPolicy={"kibanaFrom": [{"namespaceLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}]}
    )
    (rule,) = find(rendered.manifests, "NetworkPolicy", "elk-kibana")["spec"]["ingress"]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    ]
    qa_rule = find(render().manifests, "NetworkPolicy", "elk-kibana")["spec"]["ingress"][0]
    assert "from" not in qa_rule, "no selector given: from anywhere"


def test_network_policies_can_be_disabled(render: Render) -> None:
    assert not [m for m in render(networkPolicy={"enabled": False}).manifests if m["kind"] == "NetworkPolicy"]


def test_qa_stack_admits_kibana_only_from_its_ingress_controller(
    rendered_stacks: dict[str, Rendered],
) -> None:
    (rule,) = find(rendered_stacks["qa"].manifests, "NetworkPolicy", "elk-kibana")["spec"]["ingress"]
    assert rule["from"][0]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
    }
