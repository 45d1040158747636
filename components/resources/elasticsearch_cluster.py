"""`ElasticsearchCluster`: the node sets, their certificates and the client Service.

Discovery is wired from the node sets themselves: `discovery.seed_hosts` names the
headless Services of the master-eligible sets, and the initial master nodes are exactly
their pod names. Node sets roll one after another, and within a set one pod at a time, so
one change restarts one node at a time.

Which group goes first depends on whether the cluster already exists. A new cluster forms
on its masters, and no other node can become Ready before they do, so on the first deploy
the master-eligible sets come first (the other way round, Pulumi would wait forever for a
data set). Once the cluster exists, the other sets roll first and the masters last, as
Elastic's rolling-upgrade guide requires: a newer node can always join an older master,
an older node cannot always join a newer one. `dependsOn` is the same for a create and an
update, so the program must know which it is: `ClusterFormation`, a resource that keeps
the id of the program run that created it, tells, as Pulumi hands back its stored outputs
on every later run.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

import pulumi
from pulumi_kubernetes.apps.v1 import StatefulSet
from pulumi_kubernetes.core.v1 import Service

from components.configuration import ElasticsearchConfig, ResolvedNodeSet
from components.generated.formation import ClusterFormation
from components.resources import objects
from components.resources.certificates import ElasticsearchCertificates, NodeSetPods
from components.resources.clients import ClusterAccess
from components.resources.credentials import StackCredentials, secrets_for
from components.resources.elasticsearch import (
    APP,
    HTTP_LABEL,
    HTTP_PORT,
    ClusterWiring,
    ElasticsearchNode,
    names,
)
from components.resources.snapshot_job import SnapshotBeforeChange
from components.specs import common, snapshots

NAMES = common.Names(APP)


def gated(after: list[StatefulSet], gate: pulumi.Resource | None, existed: bool) -> list[pulumi.Resource]:
    """What a StatefulSet waits for, plus the snapshot Job once the cluster exists.

    On a first deploy the Job waits for the cluster, so the cluster must not wait for it.
    """
    return [*after, gate] if gate is not None and existed else list(after)


def waits_after(
    built: dict[bool, list[StatefulSet]], eligible: bool, gate: pulumi.Resource | None, existed: bool
) -> list[pulumi.Resource]:
    """`waits_for`, gated by the snapshot Job: what the first set of a group waits for."""
    return gated(waits_for(built, eligible, existed), gate, existed)


def first_group(exists: bool) -> bool:
    """Whether the master-eligible sets roll first: they form a new cluster, and upgrade last."""
    return not exists


def waits_for(built: dict[bool, list[StatefulSet]], eligible: bool, existed: bool) -> list[StatefulSet]:
    """What the first set of a group waits for: nothing if its group goes first, else the other's last set."""
    return [] if first_group(existed) == eligible else built[not eligible][-1:]


def initial_masters(node_sets: list[ResolvedNodeSet]) -> list[str]:
    """The pod names of every master-eligible node, which bootstrap a new cluster."""
    return [names(s).pod(ordinal) for s in node_sets if s.master_eligible for ordinal in range(s.replicas)]


def formation_name(name: str, node_sets: list[ResolvedNodeSet]) -> str:
    """The record's logical name, after the master-eligible sets (the inline form's is `inline`)."""
    return f"{name}-formation-{'-'.join(s.name or 'inline' for s in node_sets if s.master_eligible)}"


def node_set_pods(node_set: ResolvedNodeSet) -> NodeSetPods:
    """The names a node set's certificates are issued for."""
    set_names = names(node_set)
    return NodeSetPods(
        set_names.workload, set_names.headless, [set_names.pod(i) for i in range(node_set.replicas)]
    )


def dedicated_masters(node_sets: list[ResolvedNodeSet]) -> bool:
    """Whether some master-eligible nodes serve no clients, so the client Service must skip them."""
    return any(s.master_eligible and not s.serves_http for s in node_sets)


class ElasticsearchCluster(pulumi.ComponentResource):
    """All Elasticsearch node sets of the stack, and what their clients need to reach them."""

    http_endpoint: pulumi.Output[str]
    service_name: pulumi.Output[str]
    data_claim_names: list[pulumi.Output[str]]
    ca_secret_name: str | None
    ca_checksum: pulumi.Output[str] | None
    https: bool
    access: ClusterAccess
    pod_labels: dict[str, str]
    client_pod_labels: list[dict[str, str]]
    nodes: list[ElasticsearchNode]
    stateful_sets: list[StatefulSet]

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

        def meta(object_name: str) -> dict[str, Any]:
            return common.metadata(object_name, target.namespace, labels)

        account = objects.service_account(self, f"{name}-account", NAMES.workload, target.namespace, labels)
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
        certs_secrets: dict[str, str] = {}
        certs_objects: dict[str, pulumi.Resource] = {}
        per_pod_certs = False
        ca_secret: pulumi.Resource | None = None
        self.ca_secret_name = self.ca_checksum = None
        if secure:
            certificates = ElasticsearchCertificates(
                f"{name}-tls",
                config.tls,
                client=NAMES.workload,
                node_sets=[node_set_pods(s) for s in node_sets],
                names=NAMES,
                target=target,
                opts=child,
            )
            certs_secrets = certificates.node_secret_names
            certs_objects = dict(certificates.node_secrets)
            ca_secret = certificates.ca_secret
            per_pod_certs = certificates.per_pod
            self.ca_secret_name = certificates.ca_secret_name
            self.ca_checksum = certificates.ca_checksum
        repository = config.snapshots.repository if config.snapshots else None
        shared: list[pulumi.Resource] = [account]
        snapshot_claim: pulumi.Output[str] | None = None
        if repository is not None and repository.storage is not None:
            # One ReadWriteMany claim for every node: an fs repository must be the same
            # directory on all of them. Guarded like the data claims, as it holds backups.
            claim = objects.guarded_claim(
                self,
                f"{name}-{snapshots.FS_CLAIM}",
                NAMES.suffixed(snapshots.FS_CLAIM),
                repository.storage,
                target.namespace,
                labels,
                access_mode="ReadWriteMany",
            )
            shared.append(claim)
            snapshot_claim = claim.metadata.name
        self.http_endpoint = pulumi.Output.concat(
            "https" if self.https else "http",
            "://",
            client.metadata.name,
            ".",
            client.metadata.namespace,
            ".svc:",
            str(HTTP_PORT),
        )
        self.access = ClusterAccess(self.http_endpoint, self.https, self.ca_secret_name, self.ca_checksum)
        self.client_pod_labels = []
        snapshot_gate: pulumi.Resource | None = None
        if config.snapshots is not None and config.snapshots.snapshot_before_changes:
            before_change = SnapshotBeforeChange(
                f"{name}-snapshot",
                node_sets,
                image=config.image,
                cluster=self.access,
                credentials=credentials,
                target=target,
                opts=child,
            )
            snapshot_gate = before_change.job
            self.client_pod_labels.append(before_change.pod_labels)
        formation = ClusterFormation(
            formation_name(name, node_sets), ",".join(initial_masters(node_sets)), opts=child
        )
        wiring = ClusterWiring(
            image=config.image,
            secure=secure,
            https=self.https,
            # Even one node forms a cluster of its own (no `discovery.type: single-node`), so
            # nodes added later join it without a restart of the first one.
            seed_hosts=[names(s).headless for s in node_sets if s.master_eligible],
            # Frozen at the first deploy: nodes added later never bootstrap a cluster.
            initial_masters=formation.initial_masters,
            superuser_secret=credentials.elastic_secret_name if credentials else None,
            probe_secret=credentials.probe_secret_name if credentials else None,
            file_realm_secret=credentials.file_realm_secret_name if credentials else None,
            per_pod_certs=per_pod_certs,
            credentials_revision=credentials.revisions["elastic"] if credentials else None,
            http_label=dedicated_masters(node_sets),
            snapshot_repository=repository,
            snapshot_claim=snapshot_claim,
        )
        self.nodes = []
        masters = [s for s in node_sets if s.master_eligible]
        others = [s for s in node_sets if not s.master_eligible]
        built: dict[bool, list[StatefulSet]] = {True: [], False: []}
        for node_set in masters + others:
            eligible = node_set.master_eligible
            previous = built[eligible][-1:]
            after: list[StatefulSet] | pulumi.Output[list[pulumi.Resource]] = previous
            if not built[eligible] and masters and others:
                # The first set of a group waits for the other group's last set when that
                # group goes first. The callback runs once the record resolves, after every
                # set has been built.
                after = formation.existed.apply(partial(waits_after, built, eligible, snapshot_gate))
            elif snapshot_gate is not None:
                after = formation.existed.apply(partial(gated, previous, snapshot_gate))
            # Ordered after the Secrets its pods name (its certificates, the credentials) and the
            # CA Secret its clients mount, without using their outputs (see certificates.py).
            own_certs = certs_objects.get(names(node_set).workload)
            secrets = [*secrets_for(credentials, "elastic"), own_certs, ca_secret]
            node = ElasticsearchNode(
                f"{name}-{node_set.name}" if node_set.name else name,
                node_set,
                cluster=replace(wiring, certs_secret=certs_secrets.get(names(node_set).workload)),
                target=target,
                after=after,
                requires=[*shared, *filter(None, secrets)],
                opts=child,
            )
            self.nodes.append(node)
            built[eligible].append(node.stateful_set)

        self.service_name = client.metadata.name
        self.stateful_sets = [node.stateful_set for node in self.nodes]
        self.data_claim_names = [claim for node in self.nodes for claim in node.data_claim_names]
        self.register_outputs(
            {
                "httpEndpoint": self.http_endpoint,
                "serviceName": self.service_name,
                "dataClaimNames": self.data_claim_names,
            }
        )
