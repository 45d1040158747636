"""`ElasticsearchCluster`: the node sets, their certificates and the client Service.

Discovery is wired from the node sets themselves: `discovery.seed_hosts` names the
headless Services of the master-eligible sets, and the initial master nodes are exactly
their pod names. Node sets roll one after another, and within a set one pod at a time, so
one change restarts one node at a time.

Whether one group waits for the other depends on whether the cluster already exists.
Once it does, the other sets roll first and the masters last, as Elastic's
rolling-upgrade guide requires: a newer node can always join an older master, an older
node cannot always join a newer one. A new cluster has nothing to upgrade: its masters
and its other nodes start side by side (data nodes look for the masters until the
cluster forms), which saves a first deploy one master start; within each group the sets
still go one after another, so a live cluster that only looks new (a stack from before
the record, or new master sets) never restarts two sets of a group at once. `dependsOn`
is the same for a create and an update, so the program must know which it is:
`ClusterFormation`, a resource that keeps the id of the program run that created it,
tells, as Pulumi hands back its stored outputs on every later run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import pulumi
from pulumi_kubernetes.apps.v1 import StatefulSet
from pulumi_kubernetes.core.v1 import PersistentVolumeClaim, Service

from components.configuration import ElasticsearchConfig, ResolvedNodeSet, Storage
from components.generated.deploy_record import DeployRecord
from components.generated.formation import ClusterFormation
from components.resources import objects
from components.resources.certificates import ElasticsearchCertificates, ServerCertificate
from components.resources.credentials import StackCredentials, login_of, secrets_for
from components.resources.elasticsearch import ElasticsearchNode
from components.resources.snapshot_job import SnapshotBeforeChange
from components.resources.topology_jobs import TopologyChange
from components.specs import common, snapshots
from components.specs.clients import ClusterAccess
from components.specs.elasticsearch import (
    APP,
    DATA_CLAIM,
    HTTP_LABEL,
    HTTP_PORT,
    ClusterWiring,
    dedicated_masters,
    formation_name,
    initial_masters,
    names,
    node_set_pods,
)

NAMES = common.Names(APP)


def gated(after: list[StatefulSet], gate: pulumi.Resource, existed: bool) -> list[pulumi.Resource]:
    """What a StatefulSet waits for, plus the `leave` Job once the cluster exists.

    On a first deploy the Job waits for the cluster, so the cluster must not wait for it.
    """
    return [*after, gate] if existed else list(after)


def waits_after(
    built: dict[bool, list[StatefulSet]], eligible: bool, gate: pulumi.Resource, existed: bool
) -> list[pulumi.Resource]:
    """`waits_for`, gated by the `leave` Job: what the first set of a group waits for."""
    return gated(waits_for(built, eligible, existed), gate, existed)


def waits_for(built: dict[bool, list[StatefulSet]], eligible: bool, existed: bool) -> list[StatefulSet]:
    """What the first set of a group waits for: only in an existing cluster, where masters upgrade last.

    Their first set waits for the other group's last set; in a new cluster neither group waits.
    """
    return built[False][-1:] if eligible and existed else []


def endpoint(service_name: str, namespace: pulumi.Input[str], https: bool) -> pulumi.Output[str]:
    """The client Service's URL, as every client in the namespace reaches it.

    Built from the names the program gives, not from the Service's outputs: an output
    would make every client's ConfigMap wait for the Service's creation, an order nothing
    needs (docs/development.md, "Wire by known names"). The clients' workloads wait for
    every node set and the Service through their explicit `depends_on` (`clients_wait_for`).
    """
    scheme = "https" if https else "http"
    return pulumi.Output.concat(scheme, "://", service_name, ".", namespace, ".svc:", str(HTTP_PORT))


@dataclass(frozen=True)
class NodeCertificates:
    """What the node sets' pods mount for TLS: each set's Secret (by name and object) and the CA Secret."""

    secret_names: dict[str, str]
    secrets: dict[str, pulumi.Resource]
    per_pod: bool
    ca_secret: pulumi.Resource | None


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
    clients_wait_for: list[pulumi.Resource]
    """What Kibana and Logstash wait for: every node set, and the client Service they call."""

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
        self._name, self._target = name, target
        node_sets = config.resolved_node_sets()
        self.https = credentials is not None and config.tls.http
        self.pod_labels = common.selector_labels(APP)
        self._labels = common.labels(APP, "search", target.version)
        account = objects.service_account(
            self, f"{name}-account", NAMES.workload, target.namespace, self._labels
        )
        client = self._client_service(node_sets)
        formation = ClusterFormation(
            formation_name(name, node_sets),
            ",".join(initial_masters(node_sets)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        # The snapshot Job, made below, once it exists: the record waits for it.
        gates: list[pulumi.Resource] = []
        record = self._deploy_record(node_sets, formation, gates)
        self.ca_secret_name = self.ca_checksum = None
        self._tls: ElasticsearchCertificates | None = None
        certificates = self._certificates(config, node_sets, record) if credentials is not None else None
        repository = config.snapshots.repository if config.snapshots else None
        snapshot_claim = (
            self._snapshot_claim(repository.storage) if repository and repository.storage else None
        )
        self.http_endpoint = endpoint(NAMES.workload, target.namespace, self.https)
        self.access = ClusterAccess(self.http_endpoint, self.https, self.ca_secret_name, self.ca_checksum)
        self.client_pod_labels = []
        snapshot = self._snapshot_gate(config, node_sets, credentials, client)
        gates += [snapshot] if snapshot is not None else []
        topology = self._topology(config, node_sets, credentials, record, client)
        wiring = self._wiring(config, node_sets, credentials, certificates, formation, snapshot_claim)
        claims = [snapshot_claim] if snapshot_claim else []
        shared = [record, account, *claims, *secrets_for(credentials, "elastic")]
        self.nodes = self._node_sets(node_sets, wiring, certificates, shared, formation, topology.leave)
        self.service_name = client.metadata.name
        self.stateful_sets = [node.stateful_set for node in self.nodes]
        self.clients_wait_for = [*self.stateful_sets, client]
        topology.settle_after(self.stateful_sets)
        self.data_claim_names = [claim for node in self.nodes for claim in node.data_claim_names]
        self.register_outputs(
            {
                "httpEndpoint": self.http_endpoint,
                "serviceName": self.service_name,
                "dataClaimNames": self.data_claim_names,
            }
        )

    def _meta(self, object_name: str) -> dict[str, Any]:
        return common.metadata(object_name, self._target.namespace, self._labels)

    def server_secret(
        self, name: str, secret_name: str, common_name: str, dns_names: pulumi.Input[list[str]]
    ) -> ServerCertificate | None:
        """A TLS Secret for another server of the stack (Kibana), signed by the cluster's CA.

        None without security or with the user's own PKI, which the stack cannot sign for.
        """
        return self._tls.server_secret(name, secret_name, common_name, dns_names) if self._tls else None

    def _deploy_record(
        self, node_sets: list[ResolvedNodeSet], formation: ClusterFormation, gates: list[pulumi.Resource]
    ) -> DeployRecord:
        """What this change rolls out, which refuses a downgrade or a shrink that loses data.

        The node sets and their certificates' Secrets wait for it. It waits for the snapshot
        Job before a change (in `gates` by the time the formation record resolves, after the
        program has built everything), so a change whose snapshot failed never moves it
        (components/generated/deploy_record.py).
        """

        def pods(selected: list[ResolvedNodeSet]) -> list[str]:
            return [pod for s in selected for pod in node_set_pods(s).pods]

        return DeployRecord(
            f"{self._name}-record",
            self._target.version,
            masters=pods([s for s in node_sets if s.master_eligible]),
            data_nodes=pods([s for s in node_sets if s.holds_data]),
            claim_sizes={
                f"{DATA_CLAIM}-{pod}": node_set.storage.size
                for node_set in node_sets
                for pod in node_set_pods(node_set).pods
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=formation.existed.apply(lambda existed: list(gates) if existed else []),
            ),
        )

    def _wiring(
        self,
        config: ElasticsearchConfig,
        node_sets: list[ResolvedNodeSet],
        credentials: StackCredentials | None,
        certificates: NodeCertificates | None,
        formation: ClusterFormation,
        snapshot_claim: PersistentVolumeClaim | None,
    ) -> ClusterWiring:
        """What every node shares: discovery, the security Secrets and the snapshot repository."""
        return ClusterWiring(
            image=config.image,
            secure=credentials is not None,
            https=self.https,
            # Even one node forms a cluster of its own (no `discovery.type: single-node`), so
            # nodes added later join it without a restart of the first one.
            seed_hosts=[names(s).headless for s in node_sets if s.master_eligible],
            # Frozen at the first deploy: nodes added later never bootstrap a cluster.
            initial_masters=formation.initial_masters,
            per_pod_certs=certificates.per_pod if certificates else False,
            ca_rotation=config.tls.rotation_stage if certificates else None,
            http_label=dedicated_masters(node_sets),
            snapshot_repository=config.snapshots.repository if config.snapshots else None,
            snapshot_claim=snapshot_claim.metadata.name if snapshot_claim else None,
            **(credentials.node_logins() if credentials else {}),
        )

    def _client_service(self, node_sets: list[ResolvedNodeSet]) -> Service:
        """The Service clients call; it skips dedicated masters, which serve no clients."""
        client_selector = dict(self.pod_labels)
        if dedicated_masters(node_sets):
            client_selector[HTTP_LABEL] = "true"
        return Service(
            f"{self._name}-http",
            metadata=objects.unawaited_service(self._meta(NAMES.workload), "ClusterIP"),
            spec={
                "type": "ClusterIP",
                "selector": client_selector,
                "ports": [{"name": "http", "port": HTTP_PORT, "targetPort": "http"}],
            },
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _certificates(
        self, config: ElasticsearchConfig, node_sets: list[ResolvedNodeSet], record: DeployRecord
    ) -> NodeCertificates:
        """The CA and each node's certificate (or the user's own Secret); sets the CA the clients trust.

        The nodes' Secrets wait for the record: a refused shrink must not take certificates
        away from running pods first.
        """
        certificates = ElasticsearchCertificates(
            f"{self._name}-tls",
            config.tls,
            client=NAMES.workload,
            node_sets=[node_set_pods(s) for s in node_sets],
            names=NAMES,
            target=self._target,
            after=[record],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.ca_secret_name = certificates.ca_secret_name
        self.ca_checksum = certificates.ca_checksum
        self._tls = certificates
        return NodeCertificates(
            certificates.node_secret_names,
            dict(certificates.node_secrets),
            certificates.per_pod,
            certificates.ca_secret,
        )

    def _snapshot_claim(self, storage: Storage) -> PersistentVolumeClaim:
        """One ReadWriteMany claim for every node: an fs repository must be the same directory on all.

        Guarded like the data claims, as it holds backups.
        """
        return objects.guarded_claim(
            self,
            f"{self._name}-{snapshots.FS_CLAIM}",
            NAMES.suffixed(snapshots.FS_CLAIM),
            storage,
            self._target.namespace,
            self._labels,
            access_mode="ReadWriteMany",
        )

    def _snapshot_gate(
        self,
        config: ElasticsearchConfig,
        node_sets: list[ResolvedNodeSet],
        credentials: StackCredentials | None,
        client: Service,
    ) -> pulumi.Resource | None:
        """The snapshot Job before a change, which every StatefulSet of an existing cluster waits for.

        It calls the cluster through the client Service, so it waits for that Service.
        """
        if config.snapshots is None or not config.snapshots.snapshot_before_changes:
            return None
        before_change = SnapshotBeforeChange(
            f"{self._name}-snapshot",
            node_sets,
            image=config.image,
            cluster=self.access,
            login=login_of(credentials, "setup"),
            target=self._target,
            after=[client],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.client_pod_labels.append(before_change.pod_labels)
        gate: pulumi.Resource = before_change.job
        return gate

    def _topology(
        self,
        config: ElasticsearchConfig,
        node_sets: list[ResolvedNodeSet],
        credentials: StackCredentials | None,
        record: DeployRecord,
        client: Service,
    ) -> TopologyChange:
        """The Jobs that exclude and drain leaving nodes before a change and clear that after it.

        The `leave` Job waits for the record, so a refused change never moves a shard, and
        both wait for the client Service they call the cluster through.
        """
        topology = TopologyChange(
            f"{self._name}-topology",
            node_sets,
            image=config.image,
            cluster=self.access,
            login=login_of(credentials, "setup"),
            target=self._target,
            after=[record, client],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.client_pod_labels.append(topology.pod_labels)
        return topology

    def _node_sets(
        self,
        node_sets: list[ResolvedNodeSet],
        wiring: ClusterWiring,
        certificates: NodeCertificates | None,
        shared: list[pulumi.Resource],
        formation: ClusterFormation,
        gate: pulumi.Resource,
    ) -> list[ElasticsearchNode]:
        """Each node set, masters first in the program; `dependsOn` decides the order they roll in.

        Within a group one set after another; the groups one after the other only in an
        existing cluster (`waits_for`).
        """
        masters = [s for s in node_sets if s.master_eligible]
        # Elastic's order: the coldest tier first, the nodes in no tier after the tiers.
        others = sorted((s for s in node_sets if not s.master_eligible), key=lambda s: s.upgrade_rank)
        built: dict[bool, list[StatefulSet]] = {True: [], False: []}
        nodes = []
        for node_set in masters + others:
            eligible = node_set.master_eligible
            waits = partial(gated, built[eligible][-1:], gate)
            if not built[eligible] and masters and others:
                # In an existing cluster the first master set waits for the other group's
                # last set. The callback runs once the record resolves, after every set has
                # been built.
                waits = partial(waits_after, built, eligible, gate)
            after = formation.existed.apply(waits)
            node = self._node_set(node_set, wiring, certificates, shared, after)
            nodes.append(node)
            built[eligible].append(node.stateful_set)
        return nodes

    def _node_set(
        self,
        node_set: ResolvedNodeSet,
        wiring: ClusterWiring,
        certificates: NodeCertificates | None,
        shared: list[pulumi.Resource],
        after: pulumi.Output[list[pulumi.Resource]],
    ) -> ElasticsearchNode:
        """One node set, ordered after the Secrets its pods name (its certificates, the credentials).

        And after the CA Secret its clients mount, without using their outputs (see certificates.py).
        """
        workload = names(node_set).workload
        secrets = [certificates.secrets.get(workload), certificates.ca_secret] if certificates else []
        return ElasticsearchNode(
            f"{self._name}-{node_set.name}" if node_set.name else self._name,
            node_set,
            cluster=replace(
                wiring, certs_secret=certificates.secret_names.get(workload) if certificates else None
            ),
            target=self._target,
            after=after,
            requires=[*shared, *filter(None, secrets)],
            claims_after=[resource for resource in shared if isinstance(resource, DeployRecord)],
            opts=pulumi.ResourceOptions(parent=self),
        )
