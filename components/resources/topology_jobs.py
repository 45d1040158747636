"""`TopologyChange`: the Jobs that make nodes leave a running cluster without losing a shard or the quorum.

Removing nodes (a smaller `replicas`, a node set dropped) stops them all at once:
`podManagementPolicy: Parallel`, and Pulumi deletes a dropped set in one step. So before
any StatefulSet of the change moves, the `leave` Job excludes the leaving master-eligible
nodes from the voting configuration and drains the leaving data nodes, or refuses, with
the numbers, a drain the nodes that stay cannot take (scripts/elasticsearch-topology.sh).
After every StatefulSet has rolled, the `settle` Job waits for the scaled-down nodes to
leave and clears the exclusions.

Order: the deploy record first (a refused change must not exclude or move anything), then
`leave`; the StatefulSets of an existing cluster wait for `leave` (`gate`); `settle` waits
for every StatefulSet. On a first deploy the StatefulSets wait for nothing here: the Jobs
wait for the cluster and find no node leaving.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
from pulumi_kubernetes.batch.v1 import Job

from components.configuration import ResolvedNodeSet
from components.resources.clients import ScriptObjects, script_objects
from components.resources.credentials import Login, logged_in, login_secrets
from components.specs import common
from components.specs import topology_job as topology_spec
from components.specs.clients import ClusterAccess, client_annotations
from components.specs.topology_job import APP, DRAIN_MINUTES, NAMES, job_name, pod_spec


class TopologyChange(pulumi.ComponentResource):
    """The script, its ServiceAccount and the `leave` Job; `settle` is added once the StatefulSets exist."""

    leave: Job
    pod_labels: dict[str, str]

    def __init__(
        self,
        name: str,
        node_sets: list[ResolvedNodeSet],
        *,
        image: str,
        cluster: ClusterAccess,
        login: Login | None,
        target: common.Target,
        after: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`after`: what both Jobs wait for (the deploy record, the client Service they call)."""
        super().__init__("elk-stack:index:TopologyChange", name, None, opts)
        self._name, self._node_sets, self._image, self._target = name, node_sets, image, target
        self._labels = common.labels(APP, "topology", target.version)
        self.pod_labels = common.selector_labels(APP)
        self._objects = script_objects(self, name, NAMES, self._labels, target, topology_spec.files())
        self._cluster = logged_in(cluster, login)
        self._needs = [self._objects.config_map, self._objects.account, *login_secrets(login), *after]
        self.leave = self._job("leave", ())

    def settle_after(self, stateful_sets: Sequence[pulumi.Resource]) -> Job:
        """The `settle` Job, once every StatefulSet of the change has rolled."""
        settle = self._job("settle", stateful_sets)
        self.register_outputs({"leaveJob": self.leave.metadata.name, "settleJob": settle.metadata.name})
        return settle

    def _job(self, step: str, after: Sequence[pulumi.Resource]) -> Job:
        objects: ScriptObjects = self._objects
        name = job_name(step, self._node_sets)
        return Job(
            f"{self._name}-{step}",
            metadata=common.job_metadata(name, self._target.namespace, self._labels),
            spec={
                "backoffLimit": 1,
                "template": {
                    "metadata": {
                        "labels": self._labels,
                        "annotations": client_annotations(objects.files, self._cluster),
                    },
                    "spec": pod_spec(step, self._node_sets, self._image, self._cluster, self._target),
                },
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*self._needs, *after],
                # A failed Job is run again under the same name (`pulumi.com/replaceUnready`):
                # the old one must go first.
                delete_before_replace=True,
                # The cluster wait (10 minutes) and the drain's own budget.
                custom_timeouts=pulumi.CustomTimeouts(create=f"{DRAIN_MINUTES + 15}m"),
            ),
        )
