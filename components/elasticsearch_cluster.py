"""`ElasticsearchCluster`: the node sets, their certificates and the client Service.

Discovery is wired from the node sets themselves: `discovery.seed_hosts` names the
headless Services of the master-eligible sets, and the initial master nodes are exactly
their pod names. Node sets roll one after another (masters first, since a new cluster
cannot form, and other nodes cannot become Ready, before the masters exist), and within a
set one pod at a time, so one change restarts one node at a time.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi_kubernetes.apps.v1 import StatefulSet
from pulumi_kubernetes.core.v1 import Service

from components import common
from components.certificates import ElasticsearchCertificates, node_dns_names
from components.config import ElasticsearchConfig, ResolvedNodeSet
from components.credentials import StackCredentials
from components.elasticsearch import APP, HTTP_LABEL, HTTP_PORT, ClusterWiring, ElasticsearchNode, names

NAMES = common.Names(APP)


def rollout_order(node_sets: list[ResolvedNodeSet]) -> list[ResolvedNodeSet]:
    """Master-eligible sets first, then the others, each in config order."""
    return [s for s in node_sets if s.master_eligible] + [s for s in node_sets if not s.master_eligible]


def initial_masters(node_sets: list[ResolvedNodeSet]) -> list[str]:
    """The pod names of every master-eligible node, which bootstrap a new cluster."""
    return [names(s).pod(ordinal) for s in node_sets if s.master_eligible for ordinal in range(s.replicas)]


def dedicated_masters(node_sets: list[ResolvedNodeSet]) -> bool:
    """Whether some master-eligible nodes serve no clients, so the client Service must skip them."""
    return any(s.master_eligible and not s.serves_http for s in node_sets)


class ElasticsearchCluster(pulumi.ComponentResource):
    """All Elasticsearch node sets of the stack, and what their clients need to reach them."""

    http_endpoint: pulumi.Output[str]
    service_name: pulumi.Output[str]
    data_claim_names: list[pulumi.Output[str]]
    ca_secret_name: pulumi.Output[str] | None
    ca_checksum: pulumi.Output[str] | None
    https: bool
    pod_labels: dict[str, str]
    nodes: list[ElasticsearchNode]

    def __init__(
        self,
        name: str,
        config: ElasticsearchConfig,
        *,
        target: common.Target,
        credentials: StackCredentials | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Build the cluster; `credentials` turn security on (authentication and TLS)."""
        super().__init__("elk-stack:index:ElasticsearchCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        node_sets = config.resolved_node_sets()
        secure = credentials is not None
        self.https = secure and config.tls.http
        self.pod_labels = common.selector_labels(APP)
        labels = common.labels(APP, "search", target.version)
        multi_node = sum(s.replicas for s in node_sets) > 1

        def meta(object_name: str) -> dict[str, Any]:
            return common.metadata(object_name, target.namespace, labels)

        account = common.service_account(self, f"{name}-account", NAMES.workload, target.namespace, labels)
        client_selector = dict(self.pod_labels)
        if dedicated_masters(node_sets):
            client_selector[HTTP_LABEL] = "true"
        client = Service(
            f"{name}-http",
            metadata=meta(NAMES.workload),
            spec={
                "type": "ClusterIP",
                "selector": client_selector,
                "ports": [{"name": "http", "port": HTTP_PORT, "targetPort": "http"}],
            },
            opts=child,
        )
        certs_secret: pulumi.Output[str] | None = None
        self.ca_secret_name = self.ca_checksum = None
        if secure:
            members = [(names(s).headless, [names(s).pod(i) for i in range(s.replicas)]) for s in node_sets]
            certificates = ElasticsearchCertificates(
                f"{name}-tls",
                config.tls,
                dns_names=pulumi.Output.from_input(target.namespace).apply(
                    lambda namespace: node_dns_names(NAMES.workload, members, namespace)
                ),
                names=NAMES,
                target=target,
                opts=child,
            )
            certs_secret = certificates.node_secret_name
            self.ca_secret_name = certificates.ca_secret_name
            self.ca_checksum = certificates.ca_checksum
        wiring = ClusterWiring(
            image=config.image,
            secure=secure,
            https=self.https,
            seed_hosts=[names(s).headless for s in node_sets if s.master_eligible] if multi_node else [],
            initial_masters=initial_masters(node_sets) if multi_node else [],
            superuser_secret=credentials.elastic_secret_name if credentials else None,
            certs_secret=certs_secret,
            credentials_revision=credentials.revisions["elastic"] if credentials else None,
            http_label=dedicated_masters(node_sets),
        )
        self.nodes = []
        previous: StatefulSet | None = None
        for node_set in rollout_order(node_sets):
            node = ElasticsearchNode(
                f"{name}-{node_set.name}" if node_set.name else name,
                node_set,
                cluster=wiring,
                target=target,
                after=previous,
                requires=[account],
                opts=child,
            )
            self.nodes.append(node)
            previous = node.stateful_set

        self.service_name = client.metadata.name
        self.http_endpoint = pulumi.Output.concat(
            "https" if self.https else "http",
            "://",
            client.metadata.name,
            ".",
            client.metadata.namespace,
            ".svc:",
            str(HTTP_PORT),
        )
        self.data_claim_names = [claim for node in self.nodes for claim in node.data_claim_names]
        self.register_outputs(
            {
                "httpEndpoint": self.http_endpoint,
                "serviceName": self.service_name,
                "dataClaimNames": self.data_claim_names,
            }
        )
