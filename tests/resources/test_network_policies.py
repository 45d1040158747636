"""The NetworkPolicies: which pods and ports each admits, from where, and turning them off."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests import network_flows
from tests.conftest import STACKS, find, problems
from tools.render import Rendered

Render = Callable[..., Rendered]


@pytest.mark.parametrize("stack", STACKS)
def test_network_policies_select_the_right_pods_and_ports(
    rendered_stacks: dict[str, Rendered], stack: str
) -> None:
    manifests = rendered_stacks[stack].manifests

    def policy(app: str) -> dict[str, Any]:
        spec: dict[str, Any] = find(manifests, "NetworkPolicy", f"elk-{app}")["spec"]
        assert spec["policyTypes"] == ["Ingress", "Egress"]
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


# --- egress: every flow the stack needs, and nothing by default beyond it ------------------


@pytest.mark.parametrize("stack", STACKS)
def test_egress_admits_every_flow_the_stack_needs(rendered_stacks: dict[str, Rendered], stack: str) -> None:
    manifests = rendered_stacks[stack].manifests
    assert set(network_flows.pod_labels(manifests)) == {
        "elasticsearch",
        "elasticsearch-setup",
        "elasticsearch-topology",
        "kibana",
        "logstash",
    }
    assert network_flows.flow_violations(manifests) == []
    jobs = [find(manifests, "NetworkPolicy", f"elk-elasticsearch-{job}") for job in ("setup", "topology")]
    assert all("ingress" not in job["spec"] for job in jobs), "Jobs listen on nothing: no rule admits nothing"


def test_the_flow_check_finds_a_missing_and_an_extra_flow(rendered_default: Rendered) -> None:
    """Guard against a vacuous pass: the check fails on a policy that lost or gained a rule."""
    manifests = copy.deepcopy(rendered_default.manifests)
    kibana = find(manifests, "NetworkPolicy", "elk-kibana")["spec"]
    kibana["egress"] = [rule for rule in kibana["egress"] if "to" not in rule]
    kibana["egress"].append({"ports": [{"protocol": "TCP", "port": 9300}]})
    assert network_flows.flow_violations(manifests) == [
        "kibana cannot reach Elasticsearch on 9200",
        "kibana may reach Elasticsearch on 9300",
    ]


def test_the_nodes_reach_an_object_store_and_every_pod_what_egress_to_lists(render: Render) -> None:
    repository = {"type": "s3", "bucket": "elk-backups", "credentialsSecret": "s3-credentials"}
    rendered = render(
        elasticsearch={"snapshots": {"repository": repository}},
        networkPolicy={
            "snapshotEndpoint": {"cidr": "10.20.0.0/16", "ports": [9000]},
            "egressTo": [{"cidr": "192.0.2.0/24", "ports": [8443, 3128]}],
        },
    )
    store = {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 9000}]}
    extra = {
        "to": [{"ipBlock": {"cidr": "192.0.2.0/24"}}],
        "ports": [{"protocol": "TCP", "port": 8443}, {"protocol": "TCP", "port": 3128}],
    }
    policies = {m["metadata"]["name"]: m["spec"] for m in rendered.manifests if m["kind"] == "NetworkPolicy"}
    assert store in policies["elk-elasticsearch"]["egress"]
    for name, spec in policies.items():
        assert extra in spec["egress"], name
        assert (store in spec["egress"]) == (name == "elk-elasticsearch"), name
    fs = render(
        elasticsearch={
            "snapshots": {"repository": {"type": "fs", "storage": {"size": "5Gi", "storageClass": "nfs"}}}
        }
    )
    nodes = find(fs.manifests, "NetworkPolicy", "elk-elasticsearch")["spec"]["egress"]
    assert not any("ipBlock" in peer for rule in nodes for peer in rule.get("to", [])), (
        "a shared volume needs none"
    )


def test_egress_can_be_left_open(render: Render) -> None:
    rendered = render(networkPolicy={"egress": False})
    policies = [m for m in rendered.manifests if m["kind"] == "NetworkPolicy"]
    assert sorted(p["metadata"]["name"] for p in policies) == [
        "elk-elasticsearch",
        "elk-kibana",
        "elk-logstash",
    ]
    assert all(p["spec"]["policyTypes"] == ["Ingress"] and "egress" not in p["spec"] for p in policies)


def test_an_egress_cidr_that_is_not_one_names_its_key() -> None:
    assert problems(networkPolicy={"egressTo": [{"cidr": "10.0.0.1/8", "ports": [443]}]}) == [
        "networkPolicy.egressTo[0].cidr: '10.0.0.1/8' is not a CIDR such as 10.20.0.0/16: "
        "10.0.0.1/8 has host bits set"
    ]
