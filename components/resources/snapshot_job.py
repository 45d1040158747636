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

from typing import Any

import pulumi
from pulumi_kubernetes.batch.v1 import Job

from components.configuration import ResolvedNodeSet
from components.resources.clients import (
    SCRIPT,
    SCRIPT_DIR,
    ClusterAccess,
    client_annotations,
    client_env,
    script_objects,
    script_pod_spec,
)
from components.resources.credentials import StackCredentials, secrets_for
from components.resources.elasticsearch import names
from components.specs import common, snapshots

APP = "elasticsearch-snapshot"
NAMES = common.Names(APP)
# The snapshot's own budget; the Job's await gets the wait for the cluster on top.
SNAPSHOT_MINUTES = 60
POLL_SECONDS = 5


def change_tag(version: str, node_sets: list[ResolvedNodeSet]) -> str:
    """A short digest of what a change changes: the version and the node sets."""
    return common.digest(version, *sorted(s.name or "inline" for s in node_sets))[:10]


def job_name(version: str, node_sets: list[ResolvedNodeSet]) -> str:
    """The Job's name, after the change, e.g. `elk-elasticsearch-snapshot-3f2a9c01d4`."""
    return NAMES.suffixed(change_tag(version, node_sets))


def snapshot_name(version: str, node_sets: list[ResolvedNodeSet]) -> str:
    """The snapshot's name in the repository, e.g. `before-9.4.4-3f2a9c01d4`."""
    return f"before-{version}-{change_tag(version, node_sets)}"


def node_names_pattern(node_sets: list[ResolvedNodeSet]) -> str:
    """A regex of the pod (node) names the declared node sets run; any other node is going away."""
    return "^(" + "|".join(names(s).workload for s in node_sets) + ")-[0-9]+$"


def pod_spec(
    version: str,
    node_sets: list[ResolvedNodeSet],
    image: str,
    cluster: ClusterAccess,
    credentials: StackCredentials | None,
    target: common.Target,
) -> dict[str, Any]:
    """A one-off pod: the setup script in its snapshot mode, with the setup Job's client wiring."""
    mounts: list[dict[str, Any]] = [{"name": "script", "mountPath": SCRIPT_DIR, "readOnly": True}]
    volumes: list[dict[str, Any]] = [{"name": "script", "configMap": {"name": NAMES.config}}]
    env = client_env(cluster, credentials, volumes, mounts)
    env += [
        {"name": "SNAPSHOT_BEFORE_CHANGE", "value": snapshot_name(version, node_sets)},
        {"name": "SNAPSHOT_REPOSITORY_NAME", "value": snapshots.REPOSITORY_NAME},
        {"name": "TARGET_VERSION", "value": version},
        {"name": "NODE_NAMES", "value": node_names_pattern(node_sets)},
        {"name": "SNAPSHOT_POLL_ATTEMPTS", "value": str(SNAPSHOT_MINUTES * 60 // POLL_SECONDS)},
        {"name": "SNAPSHOT_POLL_SECONDS", "value": str(POLL_SECONDS)},
    ]
    # One attempt (and the Job's retry); a failure is reported, not retried for hours.
    return script_pod_spec(
        "snapshot", f"{image}:{version}", SCRIPT.name, env, (volumes, mounts), target, NAMES.workload, "Never"
    )


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
        credentials: StackCredentials | None,
        target: common.Target,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("elk-stack:index:SnapshotBeforeChange", name, None, opts)
        labels = common.labels(APP, "backup", target.version)
        self.pod_labels = common.selector_labels(APP)
        objects = script_objects(self, name, NAMES, labels, target)
        files, config_map, account = objects.files, objects.config_map, objects.account
        annotations = client_annotations(files, cluster, credentials)
        self.job = Job(
            name,
            metadata=common.job_metadata(job_name(target.version, node_sets), target.namespace, labels),
            spec={
                "backoffLimit": 1,
                "template": {
                    "metadata": {"labels": labels, "annotations": annotations},
                    "spec": pod_spec(target.version, node_sets, image, cluster, credentials, target),
                },
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[config_map, account, *secrets_for(credentials, "setup")],
                # A failed Job is run again under the same name (`pulumi.com/replaceUnready`):
                # the old one must go first.
                delete_before_replace=True,
                # The cluster wait (10 minutes) and the snapshot's own budget.
                custom_timeouts=pulumi.CustomTimeouts(create=f"{SNAPSHOT_MINUTES + 15}m"),
            ),
        )
        self.register_outputs({"jobName": self.job.metadata.name})
