"""The snapshot repository and SLM policy bodies the setup Job sends, as Elastic's APIs take them."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.readers import job_env
from tools.render import Rendered

Render = Callable[..., Rendered]


S3_REPOSITORY = {
    "type": "s3",
    "bucket": "elk-backups",
    "basePath": "qa",
    "endpoint": "minio.storage.svc:9000",
    "pathStyleAccess": True,
    "credentialsSecret": "elk-snapshot-credentials",
}


def snapshot_job_env(render: Render, **snapshot_config: Any) -> dict[str, str]:
    """The setup Job's snapshot variables for a stack with `elasticsearch.snapshots`."""
    env = job_env(render(elasticsearch={"snapshots": snapshot_config}))
    return {name: value for name, value in env.items() if name.startswith(("SNAPSHOT_", "SLM_"))}


def test_the_job_sends_elastics_repository_and_policy_bodies(render: Render) -> None:
    env = snapshot_job_env(
        render, repository=S3_REPOSITORY, retention={"expireAfter": "14d", "minCount": 3, "maxCount": 20}
    )
    assert env["SNAPSHOT_REPOSITORY_NAME"] == "elk-stack"
    # elastic.co/docs/deploy-manage/tools/snapshot-and-restore/s3-repository: bucket, base_path.
    assert json.loads(env["SNAPSHOT_REPOSITORY"]) == {
        "type": "s3",
        "settings": {"bucket": "elk-backups", "base_path": "qa"},
    }
    # PUT _slm/policy/<id>: schedule, name, repository, config, retention (Elastic's API reference).
    assert json.loads(env["SLM_POLICY"]) == {
        "schedule": "0 30 1 * * ?",
        "name": "<elk-stack-{now/d}>",
        "repository": "elk-stack",
        "config": {"include_global_state": True},
        "retention": {"expire_after": "14d", "min_count": 3, "max_count": 20},
    }


@pytest.mark.parametrize(
    ("repository", "settings"),
    [
        ({"type": "gcs", "bucket": "elk-backups"}, {"bucket": "elk-backups"}),
        (
            {"type": "azure", "bucket": "elk-backups", "basePath": "qa", "credentialsSecret": "azure-key"},
            {"container": "elk-backups", "base_path": "qa"},
        ),
        (
            {"type": "fs", "basePath": "qa", "storage": {"size": "10Gi", "storageClass": "nfs"}},
            {"location": "/usr/share/elasticsearch/snapshots/qa"},
        ),
        ({**S3_REPOSITORY, "readonly": True}, {"bucket": "elk-backups", "base_path": "qa", "readonly": True}),
    ],
)
def test_each_type_gets_its_own_repository_settings(
    render: Render, repository: dict[str, Any], settings: dict[str, Any]
) -> None:
    env = snapshot_job_env(render, repository=repository)
    assert json.loads(env["SNAPSHOT_REPOSITORY"]) == {"type": repository["type"], "settings": settings}


def test_a_read_only_repository_gets_no_policy(render: Render) -> None:
    env = snapshot_job_env(render, repository={**S3_REPOSITORY, "readonly": True})
    assert "SLM_POLICY" not in env
    assert env["SLM_POLICY_NAME"] == "elk-stack-snapshots", "named, so an earlier one is removed"
