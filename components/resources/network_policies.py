"""`StackNetworkPolicies`: admit only the traffic each component needs.

Ingress rules only: egress stays open, so DNS and the platform's own services keep
working in namespaces whose policies we do not know. Kubelet probes are not subject to
NetworkPolicy, so the probe ports need no rule.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi_kubernetes.networking.v1 import NetworkPolicy

from components.configuration import NetworkPeer, NetworkPolicyConfig
from components.configuration.pipeline import ListeningPort
from components.resources.elasticsearch_cluster import ElasticsearchCluster
from components.resources.kibana import KibanaUi
from components.resources.logstash import LogstashPipeline
from components.specs import common
from components.specs.elasticsearch import HTTP_PORT, TRANSPORT_PORT
from components.specs.kibana import HTTP_PORT as KIBANA_PORT

APP = "network-policies"


def selector(labels: dict[str, str]) -> dict[str, Any]:
    """A label selector; no labels selects everything, written `{}` as the API server stores it."""
    return {"matchLabels": labels} if labels else {}


def peer(source: NetworkPeer) -> dict[str, Any]:
    """A NetworkPolicyPeer from config; a pod selector alone means this namespace."""
    result: dict[str, Any] = {}
    if source.namespace_labels is not None:
        result["namespaceSelector"] = selector(source.namespace_labels)
    if source.pod_labels is not None:
        result["podSelector"] = selector(source.pod_labels)
    return result


def pods(labels: dict[str, str]) -> dict[str, Any]:
    """Pods of this namespace with the given labels."""
    return {"podSelector": selector(labels)}


def policy_spec(target_labels: dict[str, str], rules: list[dict[str, Any]]) -> dict[str, Any]:
    """An ingress-only policy for the pods with `target_labels`."""
    return {"podSelector": selector(target_labels), "policyTypes": ["Ingress"], "ingress": rules}


def port_entry(port: int | ListeningPort) -> dict[str, Any]:
    """A NetworkPolicyPort; a bare number is TCP."""
    if isinstance(port, ListeningPort):
        return {"protocol": port.protocol, "port": port.port}
    return {"protocol": "TCP", "port": port}


def rule(ports: list[int | ListeningPort], sources: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Allow `ports` (TCP unless a ListeningPort says otherwise) from `sources`; None means from anywhere.

    Never called with no ports: a rule without ports would admit every port.
    """
    result: dict[str, Any] = {
        "ports": sorted(map(port_entry, ports), key=lambda p: (p["port"], p["protocol"]))
    }
    if sources is not None:
        result["from"] = sources
    return result


class StackNetworkPolicies(pulumi.ComponentResource):
    """One NetworkPolicy per component, built from the components' own pod labels and ports."""

    def __init__(
        self,
        name: str,
        config: NetworkPolicyConfig,
        *,
        elasticsearch: ElasticsearchCluster,
        logstash: LogstashPipeline,
        kibana: KibanaUi,
        http_clients: list[dict[str, str]],
        target: common.Target,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`http_clients` are pod labels of other workloads that call Elasticsearch's API."""
        super().__init__("elk-stack:index:StackNetworkPolicies", name, None, opts)
        labels = common.labels(APP, "network-policy", target.version)
        es_clients = [
            pods(p) for p in (logstash.pod_labels, kibana.pod_labels, *http_clients, elasticsearch.pod_labels)
        ]
        specs = {
            "elasticsearch": policy_spec(
                elasticsearch.pod_labels,
                [rule([HTTP_PORT], es_clients), rule([TRANSPORT_PORT], [pods(elasticsearch.pod_labels)])],
            ),
            # No listening input, no rule: the policy then admits nothing.
            "logstash": policy_spec(
                logstash.pod_labels,
                [rule(list(logstash.ports), [peer(p) for p in config.logstash_from])]
                if logstash.ports
                else [],
            ),
            "kibana": policy_spec(
                kibana.pod_labels, [rule([KIBANA_PORT], [peer(p) for p in config.kibana_from] or None)]
            ),
        }
        for app, spec in specs.items():
            NetworkPolicy(
                f"{name}-{app}",
                metadata=common.metadata(common.Names(app).workload, target.namespace, labels),
                spec=spec,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({})
