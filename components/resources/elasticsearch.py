"""`ElasticsearchNode`: one node set, a StatefulSet whose data lives on explicit, protected PVCs.

The data PVCs are Pulumi resources of their own, named the way the StatefulSet controller
names claims, so the controller adopts them instead of creating unguarded ones. That lets
`protect` and `retain_on_delete` cover the log data, and lets a resize patch the PVCs in
place: the StatefulSet's own claim template is immutable, so Pulumi ignores changes to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
from pulumi_kubernetes.apps.v1 import StatefulSet
from pulumi_kubernetes.core.v1 import ConfigMap, Service

from components.configuration import ResolvedNodeSet
from components.resources import objects
from components.specs import common
from components.specs.elasticsearch import (
    APP,
    DATA_CLAIM,
    HTTP_LABEL,
    HTTP_PORT,
    MINUTES_PER_NODE,
    SCRIPTS,
    START_SCRIPT,
    TRANSPORT_PORT,
    ClusterWiring,
    names,
    pod_spec,
    selector,
    settings,
)


def ordered_after(
    requires: list[pulumi.Resource], after: list[StatefulSet] | pulumi.Output[list[pulumi.Resource]] | None
) -> pulumi.Input[list[pulumi.Resource]]:
    """What a node set's StatefulSet waits for; `after` may be known only once the cluster's record is."""
    if isinstance(after, pulumi.Output):
        return after.apply(lambda previous: [*requires, *previous])
    return [*requires, *(after or [])]


class ElasticsearchNode(pulumi.ComponentResource):
    """A node set: its StatefulSet, headless Service, settings, PVCs and disruption budget."""

    stateful_set: StatefulSet
    headless_service_name: pulumi.Output[str]
    data_claim_names: list[pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        node_set: ResolvedNodeSet,
        *,
        cluster: ClusterWiring,
        target: common.Target,
        after: list[StatefulSet] | pulumi.Output[list[pulumi.Resource]] | None = None,
        requires: list[pulumi.Resource] | None = None,
        claims_after: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Build one node set; `after` lists the StatefulSets that must finish rolling first.

        `requires` lists shared objects the pods need, such as their ServiceAccount;
        `claims_after` what the data claims wait for (the deploy record, which refuses a
        smaller size before the API server does).
        """
        super().__init__("elk-stack:index:ElasticsearchNode", name, None, opts)
        self._name, self._node_set, self._target = name, node_set, target
        self._names = names(node_set)
        self._selector = selector(node_set)
        self._labels = {**common.labels(APP, "search", target.version), **self._selector}
        files = {"elasticsearch.yml": common.settings_yaml(settings(node_set, cluster))}
        files |= {script: (START_SCRIPT.parent / script).read_text() for script in SCRIPTS}
        config_map = ConfigMap(
            f"{name}-config",
            metadata=self._meta(self._names.config),
            data=files,
            opts=pulumi.ResourceOptions(parent=self),
        )
        headless = self._headless_service()
        claims = objects.ordinal_claims(
            self,
            name,
            self._names,
            DATA_CLAIM,
            node_set.replicas,
            node_set.storage,
            target.namespace,
            self._labels,
            after=claims_after,
        )
        objects.disruption_budget(
            self, name, self._names.workload, target.namespace, self._labels, self._selector
        )
        self.stateful_set = self._stateful_set(
            files, cluster, headless, ordered_after([config_map, *claims, *(requires or [])], after)
        )
        self.headless_service_name = headless.metadata.name
        self.data_claim_names = [claim.metadata.name for claim in claims]
        self.register_outputs(
            {"headlessServiceName": self.headless_service_name, "dataClaimNames": self.data_claim_names}
        )

    def _meta(self, object_name: str) -> dict[str, Any]:
        return common.metadata(object_name, self._target.namespace, self._labels)

    def _headless_service(self) -> Service:
        """Stable DNS names for the pods; discovery must find nodes before they are Ready.

        They become Ready only once a cluster has formed.
        """
        return objects.headless_service(
            self,
            f"{self._name}-headless",
            self._names.headless,
            self._target.namespace,
            self._labels,
            self._selector,
            [
                {"name": "http", "port": HTTP_PORT, "targetPort": "http"},
                {"name": "transport", "port": TRANSPORT_PORT, "targetPort": "transport"},
            ],
            publish_not_ready=True,
        )

    def _stateful_set(
        self,
        files: dict[str, str],
        cluster: ClusterWiring,
        headless: Service,
        depends_on: pulumi.Input[list[pulumi.Resource]],
    ) -> StatefulSet:
        node_set = self._node_set
        pod_labels = (
            {**self._labels, HTTP_LABEL: "true"}
            if cluster.http_label and node_set.serves_http
            else self._labels
        )
        annotations = common.pod_annotations(files, credentials_revision=cluster.credentials_revision)
        if cluster.ca_rotation is not None:
            annotations[common.CA_ROTATION_ANNOTATION] = cluster.ca_rotation
        return StatefulSet(
            self._name,
            metadata=common.rolled_out_metadata(
                self._names.workload, self._target.namespace, self._labels, node_set.replicas
            ),
            spec={
                "serviceName": headless.metadata.name,
                "replicas": node_set.replicas,
                "selector": {"matchLabels": self._selector},
                "podManagementPolicy": "Parallel",
                # One pod at a time; the next waits until the restarted one is Ready again.
                "updateStrategy": {"type": "RollingUpdate"},
                "persistentVolumeClaimRetentionPolicy": common.claim_retention(),
                "volumeClaimTemplates": [common.claim_template(DATA_CLAIM, node_set.storage, APP)],
                "template": {
                    "metadata": {"labels": pod_labels, "annotations": annotations},
                    "spec": pod_spec(node_set, cluster, self._target),
                },
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=depends_on,
                custom_timeouts=common.rollout_timeouts(
                    node_set.replicas, MINUTES_PER_NODE, self._target.pod_ready_seconds
                ),
                # The claim template is immutable: a changed size would replace the
                # StatefulSet. The explicit PVCs carry the size and grow in place.
                ignore_changes=["spec.volumeClaimTemplates"],
            ),
        )
