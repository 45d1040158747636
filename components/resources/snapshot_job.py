"""`SnapshotBeforeChange`: a Job that snapshots the cluster before a risky change touches it.

A version change restarts every node on a new version, and a removed node set deletes
nodes: either can go wrong in ways only a snapshot undoes. The Job is named after the
change (a digest of the version and the node sets), so Pulumi creates a new one, which
runs once, for each change, and nothing for a deploy that changes neither. Once the
cluster exists, every Elasticsearch StatefulSet depends on it, and pulumi-kubernetes waits
for a Job until it is Complete: a snapshot that fails fails the Job, and the deploy stops
before any StatefulSet is updated (deletions come last in a Pulumi update, after every
create and update).

The Job runs `scripts/elasticsearch-setup.sh` in its snapshot mode, through the same
`es` function and client wiring (`components.resources.clients`) as the setup Job. The script takes
a snapshot only when the cluster still runs nodes the change will restart or remove: on
a first deploy, or once the change is done, it has nothing to protect and succeeds.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
from pulumi_kubernetes.batch.v1 import Job

from components.configuration import ResolvedNodeSet
from components.resources.clients import script_objects
from components.resources.credentials import Login, logged_in, login_secrets
from components.specs import common
from components.specs import snapshot_job as snapshot_spec
from components.specs.clients import ClusterAccess, client_annotations
from components.specs.snapshot_job import APP, NAMES, SNAPSHOT_MINUTES, job_name, pod_spec


class SnapshotBeforeChange(pulumi.ComponentResource):
    """The Job, its script and ServiceAccount; `job` is what the StatefulSets wait for."""

    job: Job
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
        after: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("elk-stack:index:SnapshotBeforeChange", name, None, opts)
        labels = common.labels(APP, "backup", target.version)
        self.pod_labels = common.selector_labels(APP)
        objects = script_objects(self, name, NAMES, labels, target, snapshot_spec.files())
        files, config_map, account = objects.files, objects.config_map, objects.account
        cluster = logged_in(cluster, login)
        annotations = client_annotations(files, cluster)
        self.job = Job(
            name,
            metadata=common.job_metadata(job_name(target.version, node_sets), target.namespace, labels),
            spec={
                "backoffLimit": 1,
                "template": {
                    "metadata": {"labels": labels, "annotations": annotations},
                    "spec": pod_spec(target.version, node_sets, image, cluster, target),
                },
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[config_map, account, *login_secrets(login), *after],
                # A failed Job is run again under the same name (`pulumi.com/replaceUnready`):
                # the old one must go first.
                delete_before_replace=True,
                # The cluster wait (10 minutes) and the snapshot's own budget.
                custom_timeouts=pulumi.CustomTimeouts(create=f"{SNAPSHOT_MINUTES + 15}m"),
            ),
        )
        self.register_outputs({"jobName": self.job.metadata.name})
