"""The setup Job's pod: `scripts/elasticsearch-setup.sh` with the bodies it installs, as env values.

It follows Elastic's docker-compose "setup" service: the script runs in the Elasticsearch
image (which has curl and bash), and every step is an upsert, so running it again is safe.
"""

from __future__ import annotations

import json
from typing import Any

from components.configuration import ElasticsearchConfig
from components.specs import common, retention, snapshots
from components.specs.clients import (
    RESTORE_SCRIPT,
    SCRIPT_DIR,
    SETUP_SCRIPT,
    ClusterAccess,
    client_env,
    script_files,
    script_pod_spec,
)

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
    elasticsearch_config: ElasticsearchConfig, target: common.Target, access: ClusterAccess
) -> dict[str, Any]:
    """A run-to-completion pod with only the Secrets the script needs (none without security)."""
    retention_config = elasticsearch_config.retention
    template = retention.index_template(
        elasticsearch_config.data_nodes, retention_config, target.version_tuple
    )
    mounts: list[dict[str, Any]] = [{"name": "script", "mountPath": SCRIPT_DIR, "readOnly": True}]
    volumes: list[dict[str, Any]] = [{"name": "script", "configMap": {"name": NAMES.config}}]
    env = client_env(access, volumes, mounts)
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
        "setup", image, SETUP_SCRIPT.name, env, (volumes, mounts), target, NAMES.workload, "OnFailure"
    )


def files() -> dict[str, str]:
    """The setup Job's scripts: setup, the restore of a new stack, and their client library."""
    return script_files(SETUP_SCRIPT, RESTORE_SCRIPT)
