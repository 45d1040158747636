"""`ElasticsearchSetup`: a Job that installs log retention and removes users earlier versions made.

The stack's users are in the file realm, which the nodes read from a Secret
(components/resources/credentials.py): the Job creates none of them. Its pod is built in
components/specs/setup.py.
"""

from __future__ import annotations

import pulumi
from pulumi_kubernetes.batch.v1 import Job

from components.configuration import ElasticsearchConfig
from components.resources.clients import script_objects
from components.resources.credentials import Login, logged_in, login_secrets
from components.resources.elasticsearch_cluster import ElasticsearchCluster
from components.specs import common
from components.specs import setup as setup_spec
from components.specs.clients import client_annotations
from components.specs.setup import APP, NAMES, RESTORE_MINUTES, SETUP_MINUTES, pod_spec


class ElasticsearchSetup(pulumi.ComponentResource):
    """The Job that installs retention and, with security, removes users earlier versions made."""

    pod_labels: dict[str, str]
    restores: bool
    """Whether the Job restores a new stack from a snapshot (snapshots.restoreFrom)."""

    def __init__(
        self,
        name: str,
        elasticsearch_config: ElasticsearchConfig,
        *,
        elasticsearch: ElasticsearchCluster,
        login: Login | None,
        target: common.Target,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`login` is the setup user's, when security is on."""
        super().__init__("elk-stack:index:ElasticsearchSetup", name, None, opts)
        labels = common.labels(APP, "setup", target.version)
        self.pod_labels = common.selector_labels(APP)
        objects = script_objects(self, name, NAMES, labels, target, setup_spec.files())
        access = logged_in(elasticsearch.access, login)
        snapshot_config = elasticsearch_config.snapshots
        self.restores = snapshot_config is not None and snapshot_config.restore_from is not None
        minutes = SETUP_MINUTES + (RESTORE_MINUTES if self.restores else 0)
        self.job = Job(
            name,
            metadata=common.job_metadata(NAMES.workload, target.namespace, labels),
            spec={
                "backoffLimit": 6,
                "activeDeadlineSeconds": minutes * 60,
                "template": {
                    # With HTTPS the Job trusts the CA it mounts: a renewed CA re-runs it, like any client.
                    "metadata": {"labels": labels, "annotations": client_annotations(objects.files, access)},
                    "spec": pod_spec(elasticsearch_config, target, access),
                },
            },
            # A Job's template is immutable: a change replaces the Job, which must be
            # deleted first because its name is fixed. It waits for the node sets and the
            # Service it calls, not for the topology `settle` Job, which it never needs.
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[
                    objects.config_map,
                    objects.account,
                    *elasticsearch.clients_wait_for,
                    *login_secrets(login),
                ],
                delete_before_replace=True,
                # pulumi-kubernetes waits 10 minutes for a Job by default; the Job's own
                # deadline is the limit (a restore waits for the last shard).
                custom_timeouts=pulumi.CustomTimeouts(create=f"{minutes + 5}m") if self.restores else None,
            ),
        )
        self.register_outputs({"jobName": self.job.metadata.name})
