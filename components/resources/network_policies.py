"""`StackNetworkPolicies`: admit only the traffic each component needs, in and out.

Ingress: each component from its own clients. Egress (unless `networkPolicy.egress` is
false): DNS (UDP and TCP 53, to any address, as clusters run their resolver in different
places), Elasticsearch's HTTP port from its clients (Logstash, Kibana, the Jobs), its
transport port between nodes, the snapshot store from the nodes when the repository is an
object store, and what `networkPolicy.egressTo` lists, from every pod. The Jobs get a
policy of their own: nothing in, those flows out. Kubelet probes are not subject to
NetworkPolicy, so the probe ports need no rule.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi_kubernetes.networking.v1 import NetworkPolicy

from components.configuration import NetworkPeer, NetworkPolicyConfig
from components.configuration.network_policy import EgressRule
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


def policy_spec(
    target_labels: dict[str, str], rules: list[dict[str, Any]], egress: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """A policy for the pods with `target_labels`: ingress `rules`, and `egress` unless None (open)."""
    spec: dict[str, Any] = {"podSelector": selector(target_labels), "policyTypes": ["Ingress"]}
    if rules:
        # No rule admits nothing; an empty list would be dropped by the API server (a diff).
        spec["ingress"] = rules
    if egress is not None:
        spec |= {"policyTypes": ["Ingress", "Egress"], "egress": egress}
    return spec


DNS = {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}


def to_pods(labels: dict[str, str], port: int) -> dict[str, Any]:
    """Egress to this namespace's pods with `labels`, on one TCP port."""
    return {"to": [pods(labels)], "ports": [port_entry(port)]}


def to_addresses(rule_config: EgressRule) -> dict[str, Any]:
    """Egress to a CIDR on its TCP ports."""
    return {
        "to": [{"ipBlock": {"cidr": rule_config.cidr}}],
        "ports": [port_entry(p) for p in rule_config.ports],
    }


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


class Egress:
    """The egress rules of each kind of pod, or None for all when egress stays open."""

    def __init__(self, config: NetworkPolicyConfig, nodes: dict[str, str], object_store: bool) -> None:
        self._config, self._nodes, self._object_store = config, nodes, object_store
        self._extra = [to_addresses(r) for r in config.egress_to]

    def of_nodes(self) -> list[dict[str, Any]] | None:
        """Elasticsearch nodes: DNS, the other nodes' transport port, the snapshot store."""
        if not self._config.egress:
            return None
        store = [to_addresses(self._config.snapshot_endpoint)] if self._object_store else []
        return [DNS, to_pods(self._nodes, TRANSPORT_PORT), *store, *self._extra]

    def of_clients(self) -> list[dict[str, Any]] | None:
        """Logstash, Kibana and the Jobs: DNS and Elasticsearch's HTTP port."""
        if not self._config.egress:
            return None
        return [DNS, to_pods(self._nodes, HTTP_PORT), *self._extra]


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
        object_store: bool,
        target: common.Target,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`http_clients`: pod labels of the Jobs that call Elasticsearch's API.

        `object_store`: the nodes reach a snapshot repository in an object store.
        """
        super().__init__("elk-stack:index:StackNetworkPolicies", name, None, opts)
        labels = common.labels(APP, "network-policy", target.version)
        es_clients = [
            pods(p) for p in (logstash.pod_labels, kibana.pod_labels, *http_clients, elasticsearch.pod_labels)
        ]
        egress = Egress(config, elasticsearch.pod_labels, object_store)
        specs = {
            "elasticsearch": policy_spec(
                elasticsearch.pod_labels,
                [rule([HTTP_PORT], es_clients), rule([TRANSPORT_PORT], [pods(elasticsearch.pod_labels)])],
                egress.of_nodes(),
            ),
            # No listening input, no rule: the policy then admits nothing.
            "logstash": policy_spec(
                logstash.pod_labels,
                [rule(list(logstash.ports), [peer(p) for p in config.logstash_from])]
                if logstash.ports
                else [],
                egress.of_clients(),
            ),
            "kibana": policy_spec(
                kibana.pod_labels,
                [rule([KIBANA_PORT], [peer(p) for p in config.kibana_from] or None)],
                egress.of_clients(),
            ),
        }
        if config.egress:
            # The Jobs listen on nothing: nothing in, and out only what they call.
            specs |= {
                p["app.kubernetes.io/name"]: policy_spec(p, [], egress.of_clients()) for p in http_clients
            }
        for app, spec in specs.items():
            NetworkPolicy(
                f"{name}-{app}",
                metadata=common.metadata(common.Names(app).workload, target.namespace, labels),
                spec=spec,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({})
