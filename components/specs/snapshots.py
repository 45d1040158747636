"""What snapshots need from the nodes and from the setup Job, as plain data.

The nodes need the repository's client settings: credentials as secure settings in the
keystore (never in `elasticsearch.yml`, an env value or a command line), an S3-compatible
endpoint in `elasticsearch.yml`, and for `fs` the shared volume and `path.repo`. The setup
Job needs the bodies of `PUT _snapshot/<name>` and `PUT _slm/policy/<name>`. Names follow
Elastic's repository and client settings pages (elastic.co/docs/deploy-manage/tools/
snapshot-and-restore/{s3,google-cloud-storage,azure,shared-file-system}-repository).
"""

from __future__ import annotations

from typing import Any

from components.configuration import RestoreFrom, SnapshotRepository, Snapshots, sizing

REPOSITORY_NAME = "elk-stack"
POLICY_NAME = "elk-stack-snapshots"
# SLM appends a unique suffix; `{now/d}` is date math, resolved when the snapshot is taken.
SNAPSHOT_NAME = "<elk-stack-{now/d}>"
FS_PATH = "/usr/share/elasticsearch/snapshots"
FS_CLAIM = "snapshots"
CREDENTIALS_DIR = "/mnt/elk-stack/secure-settings"
# Where the setup Job records that it restored the stack, so it never restores again:
# user-defined cluster metadata (a persistent `cluster.metadata.*` setting, Elastic's
# place for facts about a cluster that need no index).
RESTORED_MARKER = "cluster.metadata.elk_stack_restored_from"
# The keys of the credentials Secret, per type, and the secure setting (of the `default`
# client every repository of that type uses) each one becomes in the keystore.
SECURE_SETTINGS: dict[str, dict[str, str]] = {
    "s3": {"access_key": "s3.client.default.access_key", "secret_key": "s3.client.default.secret_key"},
    "gcs": {"credentials_file": "gcs.client.default.credentials_file"},
    "azure": {"account": "azure.client.default.account", "key": "azure.client.default.key"},
    "fs": {},
}


def secure_setting_items(repository: SnapshotRepository) -> list[dict[str, str]]:
    """The Secret volume's `items`: each key becomes a file named after its secure setting."""
    if repository.credentials_secret is None:
        return []
    return [{"key": key, "path": setting} for key, setting in SECURE_SETTINGS[repository.type].items()]


def node_settings(repository: SnapshotRepository) -> dict[str, Any]:
    """What `elasticsearch.yml` gains: the S3 client's endpoint, or `fs`'s allowed path. No secret."""
    settings: dict[str, Any] = {}
    if repository.type == "fs":
        settings["path.repo"] = [FS_PATH]
    if repository.endpoint is not None:
        settings["s3.client.default.endpoint"] = repository.endpoint
    if repository.path_style_access is not None:
        settings["s3.client.default.path_style_access"] = repository.path_style_access
    return settings


def repository_body(repository: SnapshotRepository) -> dict[str, Any]:
    """The body of `PUT _snapshot/<name>` for the repository's type."""
    settings: dict[str, Any] = {}
    if repository.type == "fs":
        settings["location"] = f"{FS_PATH}/{repository.base_path}" if repository.base_path else FS_PATH
    else:
        # Azure calls the bucket a container; s3 and gcs call it a bucket.
        settings["container" if repository.type == "azure" else "bucket"] = repository.bucket
        if repository.base_path:
            settings["base_path"] = repository.base_path
    if repository.readonly:
        settings["readonly"] = True
    return {"type": repository.type, "settings": settings}


def slm_policy(snapshots: Snapshots) -> dict[str, Any]:
    """The body of `PUT _slm/policy/<name>`: every index and the cluster state, on the schedule.

    `include_global_state` keeps the feature states (Kibana's saved objects, the security
    index) in each snapshot, which is what a restore of the whole stack needs.
    """
    retention = {
        key: value
        for key, value in (
            ("expire_after", snapshots.retention.expire_after),
            ("min_count", snapshots.retention.min_count),
            ("max_count", snapshots.retention.max_count),
        )
        if value is not None
    }
    return {
        "schedule": snapshots.schedule,
        "name": SNAPSHOT_NAME,
        "repository": REPOSITORY_NAME,
        "config": {"include_global_state": True},
        "retention": retention,
    }


def restore_body(restore_from: RestoreFrom, data_nodes: int) -> dict[str, Any]:
    """The body of `POST _snapshot/<name>/<snapshot>/_restore` that starts a new stack.

    Not the cluster state: its templates, policies and settings are the setup Job's, and
    the snapshot's would overwrite them. The replicas follow this cluster's data nodes,
    not those of the cluster that took the snapshot (a copy of a three-node QA into a
    one-node test stack would stay yellow otherwise).
    """
    body: dict[str, Any] = {
        "include_global_state": False,
        # Elastic: an empty list means the default; ["none"] means none.
        "feature_states": restore_from.feature_states or ["none"],
        "index_settings": {"index.number_of_replicas": sizing.replicas_for(data_nodes)},
    }
    if restore_from.indices is not None:
        body["indices"] = ",".join(restore_from.indices)
    return body


def restore_plan(restore_from: RestoreFrom) -> str:
    """What the plan says of a restore: which snapshot, and that missing feature states are left out."""
    states = ", ".join(restore_from.feature_states) or "none"
    return (
        f"elasticsearch.snapshots.restoreFrom: a new cluster is restored once from snapshot "
        f"{restore_from.snapshot!r}, with the feature states [{states}] that the snapshot holds; the "
        "setup Job's log names any it leaves out (Elasticsearch would refuse the whole restore)"
    )
