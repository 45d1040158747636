"""Snapshots (issue 12): the `elasticsearch.snapshots` rules and what they render."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.configuration.snapshots import check_cron
from tests import invariants
from tests.clusters import START_SCRIPT, STATEFULSET
from tests.conftest import find, problems, valid
from tests.snapshot_examples import FS, S3, commented_snapshots_example, snapshots
from tools.render import PROJECT_DIR, Rendered

Render = Callable[..., Rendered]


def test_the_issue_example_is_valid() -> None:
    config = valid(
        **snapshots(
            repository={**S3, "endpoint": "minio.storage.svc:9000", "pathStyleAccess": True},
            schedule="0 30 1 * * ?",
            retention={"expireAfter": "30d", "minCount": 5, "maxCount": 50},
        )
    )
    assert config.elasticsearch.snapshots is not None
    assert config.elasticsearch.snapshots.repository.endpoint == "minio.storage.svc:9000"
    assert config.elasticsearch.snapshots.takes_snapshots


def test_no_snapshots_by_default() -> None:
    assert valid().elasticsearch.snapshots is None


def test_the_repository_is_required() -> None:
    assert problems(**snapshots()) == ["elasticsearch.snapshots.repository: is required"]


@pytest.mark.parametrize(
    "schedule",
    [
        "0 30 1 * * ?",
        "0 0 3 ? * SUN",
        "0 0/15 * * * ?",
        "0 0 1 ? * MON-FRI",
        "0 0 12 L * ?",
        "0 0 12 15W * ?",
        "0 0 12 ? * 6#3",
        "0 0 12 ? * 6L",
        "0 0 12 1,15 JAN-MAR ? 2030",
        "0 0 22-2 * * ?",
    ],
)
def test_elastic_cron_expressions_pass(schedule: str) -> None:
    assert check_cron(schedule) == schedule


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("30 1 * * *", "has 5 fields; Elastic's cron has 6 or 7"),
        ("0 30 1 * * *", "exactly one of day-of-month and day-of-week must be '?'"),
        ("0 30 1 ? * ?", "exactly one of day-of-month and day-of-week must be '?'"),
        ("0 61 1 * * ?", "the minutes field '61' is invalid: '61' is not 0-59"),
        ("60 0 1 * * ?", "the seconds field '60' is invalid"),
        ("0 0 24 * * ?", "the hours field '24' is invalid"),
        ("0 0 1 0 * ?", "the day of month field '0' is invalid"),
        ("0 0 1 * 13 ?", "the month field '13' is invalid: '13' is not 1-12 or JAN-DEC"),
        ("0 0 1 ? * 8", "the day of week field '8' is invalid"),
        ("0 0 1 ? * MOX", "the day of week field 'MOX' is invalid"),
        ("0 */0 1 * * ?", "the step after '/' must be a positive number"),
        ("0 0 1 * * ? 1969", "the year field '1969' is invalid"),
        ("0 0 ? * * ?", "the hours field '?' is invalid"),
    ],
)
def test_cron_expressions_elastic_refuses_are_refused(schedule: str, message: str) -> None:
    found = problems(**snapshots(repository=S3, schedule=schedule))
    assert len(found) == 1
    assert found[0].startswith("elasticsearch.snapshots.schedule: ")
    assert message in found[0]


def test_retention_must_be_possible() -> None:
    found = problems(
        **snapshots(repository=S3, retention={"minCount": 10, "maxCount": 3, "expireAfter": "0d"})
    )
    assert found == [
        "elasticsearch.snapshots.retention.expireAfter: '0d' must be longer than zero",
        "elasticsearch.snapshots.retention.maxCount: 3 is less than minCount (10), "
        "so no count satisfies both",
    ]


def test_a_max_count_below_the_default_min_count_says_so() -> None:
    found = problems(**snapshots(repository=S3, retention={"maxCount": 3}))
    assert found == [
        "elasticsearch.snapshots.retention.maxCount: 3 is less than minCount (5), so no count satisfies both"
    ]


@pytest.mark.parametrize("expire_after", ["30", "thirty days", "1w", "-1d"])
def test_retention_age_is_an_elastic_duration(expire_after: str) -> None:
    found = problems(**snapshots(repository=S3, retention={"expireAfter": expire_after}))
    assert found == [
        f"elasticsearch.snapshots.retention.expireAfter: {expire_after!r} is not a duration like 30d or 12h"
    ]


def test_the_credentials_secret_must_be_a_secret_name() -> None:
    found = problems(**snapshots(repository={**S3, "credentialsSecret": "Elk_Credentials"}))
    assert len(found) == 1
    assert found[0].startswith(
        "elasticsearch.snapshots.repository.credentialsSecret: 'Elk_Credentials' is not a DNS-1123 subdomain"
    )


def test_s3_only_keys_are_refused_for_other_types() -> None:
    found = problems(
        **snapshots(
            repository={
                "type": "gcs",
                "bucket": "elk-backups",
                "endpoint": "x:9000",
                "pathStyleAccess": False,
            }
        )
    )
    assert found == [
        "elasticsearch.snapshots.repository.endpoint: is an s3 setting; type gcs has none",
        "elasticsearch.snapshots.repository.pathStyleAccess: is an s3 setting; type gcs has none",
    ]


def test_object_stores_need_a_bucket_and_azure_needs_credentials() -> None:
    assert problems(**snapshots(repository={"type": "azure"})) == [
        "elasticsearch.snapshots.repository.bucket: is required for type azure",
        "elasticsearch.snapshots.repository.credentialsSecret: is required for azure: "
        "the Secret with `account` and `key`",
    ]


def test_fs_needs_a_read_write_many_claim_with_a_storage_class() -> None:
    assert problems(**snapshots(repository={"type": "fs"})) == [
        "elasticsearch.snapshots.repository.storage: an fs repository needs a ReadWriteMany claim: "
        "give its size and storageClass"
    ]
    found = problems(storageClass="ssd", **snapshots(repository={"type": "fs", "storage": {"size": "1Gi"}}))
    assert len(found) == 1
    assert found[0].startswith("elasticsearch.snapshots.repository.storage.storageClass: is required")


def test_fs_takes_no_bucket_nor_credentials_and_others_no_storage() -> None:
    assert problems(
        **snapshots(repository={**FS, "bucket": "elk-backups", "credentialsSecret": "creds"})
    ) == [
        "elasticsearch.snapshots.repository.bucket: an fs repository has no bucket: it is the shared volume "
        "`storage`",
        "elasticsearch.snapshots.repository.credentialsSecret: an fs repository needs no credentials",
    ]
    assert problems(**snapshots(repository={**S3, "storage": {"size": "1Gi"}})) == [
        "elasticsearch.snapshots.repository.storage: is for type fs only; type s3 stores in its bucket"
    ]


def test_a_read_only_repository_takes_no_schedule() -> None:
    readonly = {**S3, "readonly": True}
    config = valid(**snapshots(repository=readonly))
    assert config.elasticsearch.snapshots is not None
    assert not config.elasticsearch.snapshots.takes_snapshots
    assert problems(**snapshots(repository=readonly, schedule="0 0 1 * * ?", retention={"maxCount": 9})) == [
        "elasticsearch.snapshots.retention: a read-only repository takes no snapshots; remove it or set "
        "repository.readonly false",
        "elasticsearch.snapshots.schedule: a read-only repository takes no snapshots; remove it or set "
        "repository.readonly false",
    ]


@pytest.mark.parametrize("base_path", ["/qa", "qa/../prod", "qa//x", "q a"])
def test_base_path_is_a_relative_path(base_path: str) -> None:
    found = problems(**snapshots(repository={**S3, "basePath": base_path}))
    assert found == [
        f"elasticsearch.snapshots.repository.basePath: {base_path!r} is not a relative path like qa or "
        "backups/qa (letters, digits, '.', '_', '-')"
    ]


def test_the_commented_example_in_the_qa_stack_file_is_valid() -> None:
    """Uncommented, the example in Pulumi.qa.yaml is a valid config: it cannot rot."""
    config = valid(**snapshots(**commented_snapshots_example("Pulumi.qa.yaml")))
    assert config.elasticsearch.snapshots is not None
    assert config.elasticsearch.snapshots.repository.credentials_secret == "elk-snapshot-credentials"


# --- wiring: credentials into the keystore, the s3 client settings, the fs claim --------


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


NODE_SETS = [
    {"name": "master", "replicas": 3, "roles": ["master"]},
    {"name": "data", "replicas": 2, "roles": ["data", "ingest"]},
]


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


# --- the start script: secure settings enter the keystore from files --------------------


@pytest.fixture
def keystore_tool(tmp_path: Path) -> Path:
    """A stand-in for `elasticsearch-keystore` that logs its arguments and what it read."""
    tool = tmp_path / "elasticsearch-keystore"
    tool.write_text(
        "#!/usr/bin/env bash\n"
        'echo "keystore $*" >> "$KEYSTORE_LOG"\n'
        'if [[ $1 == create ]]; then touch "$ES_PATH_CONF/elasticsearch.keystore"; fi\n'
        'if [[ $1 == add-file ]]; then echo "stored $3=$(cat "$4")" >> "$KEYSTORE_LOG"; fi\n'
    )
    tool.chmod(0o755)
    return tool


def run_start(tmp_path: Path, keystore_tool: Path, settings: dict[str, str] | None) -> list[str]:
    """Run the start script with `settings` as mounted secure-setting files; the keystore log."""
    conf = tmp_path / "config"
    conf.mkdir(exist_ok=True)
    entrypoint = tmp_path / "entrypoint"
    entrypoint.write_text('#!/usr/bin/env bash\necho "entrypoint $*" >> "$KEYSTORE_LOG"\n')
    entrypoint.chmod(0o755)
    environment = {
        "PATH": os.environ["PATH"],
        "HOSTNAME": "elk-elasticsearch-0",
        "ES_ENTRYPOINT": str(entrypoint),
        "ES_KEYSTORE": str(keystore_tool),
        "ES_PATH_CONF": str(conf),
        "KEYSTORE_LOG": str(tmp_path / "log"),
        "FORMED_MARKER": str(tmp_path / "formed"),
    }
    if settings is not None:
        directory = tmp_path / "secure-settings"
        (directory / "..data").mkdir(parents=True)
        for name, value in settings.items():
            (directory / name).write_text(value)
        environment["SECURE_SETTINGS_DIR"] = str(directory)
    subprocess.run(["bash", str(START_SCRIPT)], env=environment, check=True, capture_output=True, timeout=30)
    return (tmp_path / "log").read_text().splitlines()


def test_secure_settings_are_added_from_files_before_the_node_starts(
    tmp_path: Path, keystore_tool: Path
) -> None:
    log = run_start(
        tmp_path,
        keystore_tool,
        {"s3.client.default.access_key": "AKIA-SECRET", "s3.client.default.secret_key": "s3cr3t"},
    )
    directory = tmp_path / "secure-settings"
    assert log == [
        "keystore create",
        f"keystore add-file --force s3.client.default.access_key {directory}/s3.client.default.access_key",
        "stored s3.client.default.access_key=AKIA-SECRET",
        f"keystore add-file --force s3.client.default.secret_key {directory}/s3.client.default.secret_key",
        "stored s3.client.default.secret_key=s3cr3t",
        "entrypoint eswrapper",
    ]


def test_an_existing_keystore_is_kept(tmp_path: Path, keystore_tool: Path) -> None:
    """`create` would ask before overwriting it, and the image's entrypoint may have made one."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "elasticsearch.keystore").touch()
    log = run_start(tmp_path, keystore_tool, {"gcs.client.default.credentials_file": "{}"})
    assert [line for line in log if line.startswith("keystore")] == [
        f"keystore add-file --force gcs.client.default.credentials_file "
        f"{tmp_path}/secure-settings/gcs.client.default.credentials_file"
    ]


def test_without_secure_settings_the_keystore_is_untouched(tmp_path: Path, keystore_tool: Path) -> None:
    (tmp_path / "log").touch()
    assert run_start(tmp_path, keystore_tool, None) == ["entrypoint eswrapper"]


# --- the snapshot Job before a change ----------------------------------------------------

JOB = "kubernetes:batch/v1:Job"
SNAPSHOT_JOB = "elasticsearch-snapshot"


def snapshot_jobs(rendered: Rendered) -> list[dict[str, Any]]:
    return [
        m
        for m in rendered.manifests
        if m["kind"] == "Job" and m["metadata"]["name"].startswith("elk-elasticsearch-snapshot-")
    ]


def job_env(job: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}


def with_snapshots(
    version: str = "9.4.3", node_sets: list[dict[str, Any]] | None = None, **keys: Any
) -> dict[str, Any]:
    return {
        "version": version,
        "elasticsearch": {"nodeSets": node_sets or NODE_SETS, "snapshots": {"repository": S3, **keys}},
    }


def test_the_job_is_named_after_the_change(render: Render) -> None:
    """A new Job, so one run, per version or node set change; none for a deploy that changes neither."""
    (first,) = snapshot_jobs(render(**with_snapshots()))
    (again,) = snapshot_jobs(render(**with_snapshots()))
    (bumped,) = snapshot_jobs(render(**with_snapshots("9.4.4")))
    (removed,) = snapshot_jobs(
        render(**with_snapshots(node_sets=[{**NODE_SETS[0], "roles": ["master", "data"]}]))
    )
    names = [job["metadata"]["name"] for job in (first, again, bumped, removed)]
    assert names[0] == names[1]
    assert len({names[0], names[2], names[3]}) == 3
    env = job_env(bumped)
    assert env["TARGET_VERSION"]["value"] == "9.4.4"
    assert env["SNAPSHOT_BEFORE_CHANGE"]["value"] == f"before-9.4.4-{names[2].rsplit('-', 1)[1]}"
    assert env["NODE_NAMES"]["value"] == "^(elk-elasticsearch-master|elk-elasticsearch-data)-[0-9]+$"
    assert bumped["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":9.4.4")


def test_the_job_reaches_the_cluster_as_the_setup_job_does(render: Render) -> None:
    rendered = render(**with_snapshots())
    (job,) = snapshot_jobs(rendered)
    setup = find(rendered.manifests, "Job", "elk-elasticsearch-setup")
    shared = ("ES_URL", "SETUP_USERNAME", "SETUP_PASSWORD", "CA_CERT")
    assert {k: job_env(job)[k] for k in shared} == {k: job_env(setup)[k] for k in shared}
    ca_volume = [v for v in job["spec"]["template"]["spec"]["volumes"] if v["name"] == "elasticsearch-ca"]
    assert ca_volume == [
        v for v in setup["spec"]["template"]["spec"]["volumes"] if v["name"] == "elasticsearch-ca"
    ]
    script = find(rendered.manifests, "ConfigMap", "elk-elasticsearch-snapshot-config")
    assert (
        script["data"]["elasticsearch-setup.sh"]
        == (PROJECT_DIR / "scripts" / "elasticsearch-setup.sh").read_text()
    )
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_the_network_policy_lets_the_job_reach_elasticsearch(render: Render) -> None:
    policy = find(render(**with_snapshots()).manifests, "NetworkPolicy", "elk-elasticsearch")
    peers = [
        peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
        for rule in policy["spec"]["ingress"]
        for peer in rule.get("from", [])
    ]
    assert "elasticsearch-snapshot" in peers


@pytest.mark.parametrize(
    "keys",
    [{"beforeUpgrade": False}, {"repository": {**S3, "readonly": True}}],
)
def test_no_job_when_turned_off_or_read_only(render: Render, keys: dict[str, Any]) -> None:
    assert snapshot_jobs(render(**with_snapshots(**keys))) == []


def test_no_job_without_snapshots(render: Render) -> None:
    assert snapshot_jobs(render()) == []


def test_before_upgrade_is_refused_with_a_read_only_repository() -> None:
    assert problems(**snapshots(repository={**S3, "readonly": True}, beforeUpgrade=True)) == [
        "elasticsearch.snapshots.beforeUpgrade: a read-only repository takes no snapshots; remove it"
    ]


def statefulsets_waiting_for_the_job(rendered: Rendered) -> set[str]:
    assert len([r for r in rendered.resources if r["type"] == JOB and r["name"] == SNAPSHOT_JOB]) == 1
    urn_tail = f"{JOB}::{SNAPSHOT_JOB}"
    return {
        r["name"]
        for r in rendered.resources
        if r["type"] == STATEFULSET and any(d.endswith(urn_tail) for d in r["dependsOn"])
    }


@pytest.mark.usefixtures("existing_cluster")
def test_every_statefulset_of_an_existing_cluster_waits_for_the_snapshot(render: Render) -> None:
    rendered = render(
        **with_snapshots(
            "9.4.4", node_sets=[*NODE_SETS, {**NODE_SETS[1], "name": "warm", "roles": ["data_warm"]}]
        )
    )
    assert statefulsets_waiting_for_the_job(rendered) == {
        "elasticsearch-master",
        "elasticsearch-data",
        "elasticsearch-warm",
    }


@pytest.mark.usefixtures("existing_cluster")
def test_the_inline_form_waits_for_the_snapshot_too(render: Render) -> None:
    rendered = render(version="9.4.4", elasticsearch={"snapshots": {"repository": S3}})
    assert statefulsets_waiting_for_the_job(rendered) == {"elasticsearch"}


def test_a_new_cluster_does_not_wait_for_the_job_which_waits_for_it(render: Render) -> None:
    """On a first deploy the Job waits for the cluster; the other way round would deadlock."""
    assert statefulsets_waiting_for_the_job(render(**with_snapshots())) == set()
