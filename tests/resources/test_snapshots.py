"""What snapshots render: credentials into the keystore, the s3 client settings, the fs claim."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests import invariants
from tests.conftest import find
from tests.snapshot_examples import FS, NODE_SETS, S3, snapshots
from tools.render import Rendered

Render = Callable[..., Rendered]


def es_settings(rendered: Rendered, config_map: str = "elk-elasticsearch-config") -> dict[str, Any]:
    settings: dict[str, Any] = yaml.safe_load(
        find(rendered.manifests, "ConfigMap", config_map)["data"]["elasticsearch.yml"]
    )
    return settings


def pod_of(rendered: Rendered, name: str = "elk-elasticsearch") -> dict[str, Any]:
    spec: dict[str, Any] = find(rendered.manifests, "StatefulSet", name)["spec"]["template"]["spec"]
    return spec


def test_s3_credentials_are_files_for_the_keystore_never_settings_or_env(render: Render) -> None:
    rendered = render(
        **snapshots(repository={**S3, "endpoint": "minio.storage.svc:9000", "pathStyleAccess": True})
    )
    settings = es_settings(rendered)
    assert settings["s3.client.default.endpoint"] == "minio.storage.svc:9000"
    assert settings["s3.client.default.path_style_access"] is True
    assert not [key for key in settings if key.endswith(("access_key", "secret_key"))]
    assert "path.repo" not in settings
    pod = pod_of(rendered)
    volume = next(v for v in pod["volumes"] if v["name"] == "secure-settings")
    assert volume["secret"] == {
        "secretName": "elk-snapshot-credentials",
        "items": [
            {"key": "access_key", "path": "s3.client.default.access_key"},
            {"key": "secret_key", "path": "s3.client.default.secret_key"},
        ],
        "defaultMode": 0o440,
    }
    (container,) = pod["containers"]
    assert {
        "name": "secure-settings",
        "mountPath": "/mnt/elk-stack/secure-settings",
        "readOnly": True,
    } in container["volumeMounts"]
    assert {"name": "SECURE_SETTINGS_DIR", "value": "/mnt/elk-stack/secure-settings"} in container["env"]
    refs = [e["valueFrom"].get("secretKeyRef", {}).get("name") for e in container["env"] if "valueFrom" in e]
    assert "elk-snapshot-credentials" not in refs


@pytest.mark.parametrize(
    ("repository", "items"),
    [
        (
            {"type": "gcs", "bucket": "elk-backups", "credentialsSecret": "gcs-key"},
            [{"key": "credentials_file", "path": "gcs.client.default.credentials_file"}],
        ),
        (
            {"type": "azure", "bucket": "elk-backups", "credentialsSecret": "azure-key"},
            [
                {"key": "account", "path": "azure.client.default.account"},
                {"key": "key", "path": "azure.client.default.key"},
            ],
        ),
    ],
)
def test_gcs_and_azure_credentials_use_their_documented_secure_settings(
    render: Render, repository: dict[str, Any], items: list[dict[str, str]]
) -> None:
    volume = next(
        v
        for v in pod_of(render(**snapshots(repository=repository)))["volumes"]
        if v["name"] == "secure-settings"
    )
    assert volume["secret"]["items"] == items


def test_without_a_credentials_secret_nothing_is_mounted(render: Render) -> None:
    """s3 and gcs may use the node's own identity (IRSA, workload identity)."""
    rendered = render(**snapshots(repository={"type": "s3", "bucket": "elk-backups"}))
    (container,) = pod_of(rendered)["containers"]
    assert "secure-settings" not in [m["name"] for m in container["volumeMounts"]]
    assert "SECURE_SETTINGS_DIR" not in [e["name"] for e in container["env"]]


def test_fs_mounts_one_shared_guarded_claim_on_every_node(render: Render) -> None:
    rendered = render(
        elasticsearch={"nodeSets": NODE_SETS, "snapshots": {"repository": {**FS, "basePath": "qa"}}}
    )
    claim = find(rendered.manifests, "PersistentVolumeClaim", "elk-elasticsearch-snapshots")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["spec"]["storageClassName"] == "nfs"
    assert claim["spec"]["resources"] == {"requests": {"storage": "100Gi"}}
    assert claim["metadata"]["annotations"]["pulumi.com/patchForce"] == "true"
    (record,) = [r for r in rendered.resources if r["name"] == "elasticsearch-snapshots"]
    assert record["protect"] is True
    assert record["retainOnDelete"] is True
    for node_set in ("master", "data"):
        name = f"elk-elasticsearch-{node_set}"
        assert es_settings(rendered, f"{name}-config")["path.repo"] == ["/usr/share/elasticsearch/snapshots"]
        pod = pod_of(rendered, name)
        assert {
            "name": "snapshots",
            "persistentVolumeClaim": {"claimName": "elk-elasticsearch-snapshots"},
        } in pod["volumes"]
        (container,) = pod["containers"]
        assert {"name": "snapshots", "mountPath": "/usr/share/elasticsearch/snapshots"} in container[
            "volumeMounts"
        ]


def test_an_unprotected_fs_claim_is_still_retained(render: Render) -> None:
    storage = {**FS["storage"], "protect": False}
    rendered = render(**snapshots(repository={"type": "fs", "storage": storage}))
    (record,) = [r for r in rendered.resources if r["name"] == "elasticsearch-snapshots"]
    assert record["protect"] is False
    assert record["retainOnDelete"] is True


def test_the_stacks_render_clean_with_each_repository_type(render: Render) -> None:
    azure = {"type": "azure", "bucket": "elk-backups", "credentialsSecret": "azure-key"}
    repositories: list[dict[str, Any]] = [S3, FS, azure]
    for repository in repositories:
        rendered = render(elasticsearch={"nodeSets": NODE_SETS, "snapshots": {"repository": repository}})
        external = frozenset({str(repository.get("credentialsSecret", ""))})
        assert (
            invariants.all_violations(
                rendered.manifests, rendered.resources, "elk-unit", external_secrets=external
            )
            == []
        )
