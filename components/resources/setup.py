"""`ElasticsearchSetup`: a Job that installs log retention and removes users earlier versions made.

It follows Elastic's docker-compose "setup" service: it runs `scripts/elasticsearch-setup.sh`
in the Elasticsearch image (which has curl and bash). Every step is an upsert, so running
it again is safe. The stack's users are in the file realm, which the nodes read from a
Secret (components/credentials.py): the Job creates none of them.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
from pulumi_kubernetes.batch.v1 import Job

from components.configuration import ElasticsearchConfig
from components.resources.clients import (
    SCRIPT,
    SCRIPT_DIR,
    client_annotations,
    client_env,
    script_objects,
    script_pod_spec,
)
from components.resources.credentials import StackCredentials, secrets_for
from components.resources.elasticsearch_cluster import ElasticsearchCluster
from components.specs import common, retention, snapshots

APP = "elasticsearch-setup"
NAMES = common.Names(APP)
# The Job's own budget, and what a restore (snapshots.restoreFrom) adds to it.
SETUP_MINUTES = 30
RESTORE_MINUTES = 60


def _json(body: dict[str, Any]) -> str:
    """Compact, key-sorted JSON: stable, so an unchanged body never replaces the Job."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def snapshot_env(elasticsearch_config: ElasticsearchConfig) -> list[dict[str, Any]]:
    """The repository and SLM policy to install; only their names when there are none to install.

    With the names alone the script removes what an earlier config installed: a policy that
    would fail every night against a repository the nodes can no longer reach.
    """
    config = elasticsearch_config.snapshots
    env: list[dict[str, Any]] = [
        {"name": "SNAPSHOT_REPOSITORY_NAME", "value": snapshots.REPOSITORY_NAME},
        {"name": "SLM_POLICY_NAME", "value": snapshots.POLICY_NAME},
    ]
    if config is not None:
        env.append(
            {"name": "SNAPSHOT_REPOSITORY", "value": _json(snapshots.repository_body(config.repository))}
        )
        if config.takes_snapshots:
            env.append({"name": "SLM_POLICY", "value": _json(snapshots.slm_policy(config))})
        if config.restore_from is not None:
            body = snapshots.restore_body(config.restore_from, elasticsearch_config.data_nodes)
            env += [
                {"name": "RESTORE_SNAPSHOT", "value": config.restore_from.snapshot},
                {"name": "RESTORE_REQUEST", "value": _json(body)},
                {"name": "RESTORED_MARKER", "value": snapshots.RESTORED_MARKER},
                {"name": "RESTORE_MAX_SECONDS", "value": str(RESTORE_MINUTES * 60)},
            ]
    return env


def pod_spec(
    elasticsearch_config: ElasticsearchConfig,
    target: common.Target,
    elasticsearch: ElasticsearchCluster,
    credentials: StackCredentials | None,
) -> dict[str, Any]:
    """A run-to-completion pod with only the Secrets the script needs (none without security)."""
    retention_config = elasticsearch_config.retention
    template = retention.index_template(
        elasticsearch_config.data_nodes, retention_config, target.version_tuple
    )
    mounts: list[dict[str, Any]] = [{"name": "script", "mountPath": SCRIPT_DIR, "readOnly": True}]
    volumes: list[dict[str, Any]] = [{"name": "script", "configMap": {"name": NAMES.config}}]
    env = client_env(elasticsearch.access, credentials, volumes, mounts)
    env += [
        {"name": "ILM_POLICY_NAME", "value": retention.POLICY_NAME},
        {"name": "ILM_POLICY", "value": _json(retention.ilm_policy(retention_config))},
        {"name": "COMPONENT_TEMPLATE_NAME", "value": retention.COMPONENT_NAME},
        {
            "name": "COMPONENT_TEMPLATE",
            "value": _json(retention.component_template(elasticsearch_config.data_nodes)),
        },
        {"name": "INDEX_TEMPLATE_NAME", "value": retention.TEMPLATE_NAME},
        {"name": "INDEX_TEMPLATE", "value": _json(template)},
        {"name": "DATA_STREAMS", "value": ",".join(retention_config.data_streams)},
        {
            "name": "INDEX_SETTINGS",
            "value": _json(retention.dynamic_settings(elasticsearch_config.data_nodes)),
        },
    ]
    env += snapshot_env(elasticsearch_config)
    image = f"{elasticsearch_config.image}:{target.version}"
    return script_pod_spec(
        "setup", image, SCRIPT.name, env, (volumes, mounts), target, NAMES.workload, "OnFailure"
    )


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
        credentials: StackCredentials | None,
        target: common.Target,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("elk-stack:index:ElasticsearchSetup", name, None, opts)
        labels = common.labels(APP, "setup", target.version)
        self.pod_labels = common.selector_labels(APP)
        objects = script_objects(self, name, NAMES, labels, target)
        files, config_map, account = objects.files, objects.config_map, objects.account
        # With HTTPS the Job trusts the CA it mounts: a renewed CA re-runs it, like any client.
        annotations = client_annotations(files, elasticsearch.access, credentials)
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
                    "metadata": {"labels": labels, "annotations": annotations},
                    "spec": pod_spec(elasticsearch_config, target, elasticsearch, credentials),
                },
            },
            # A Job's template is immutable: a change replaces the Job, which must be
            # deleted first because its name is fixed.
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[
                    config_map,
                    account,
                    elasticsearch,
                    *secrets_for(credentials, "setup"),
                ],
                delete_before_replace=True,
                # pulumi-kubernetes waits 10 minutes for a Job by default; the Job's own
                # deadline is the limit (a restore waits for the last shard).
                custom_timeouts=pulumi.CustomTimeouts(create=f"{minutes + 5}m") if self.restores else None,
            ),
        )
        self.register_outputs({"jobName": self.job.metadata.name})
