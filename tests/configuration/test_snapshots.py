"""The `elasticsearch.snapshots` rules: the repository of each type, Elastic's cron, retention."""

from __future__ import annotations

import pytest

from components.configuration.snapshots import check_cron
from tests.conftest import problems, valid
from tests.snapshot_examples import FS, S3, commented_snapshots_example, snapshots


def test_the_readme_example_is_valid() -> None:
    """The example of README.md's snapshots section, with an S3-compatible store."""
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


def test_before_upgrade_is_refused_with_a_read_only_repository() -> None:
    assert problems(**snapshots(repository={**S3, "readonly": True}, beforeUpgrade=True)) == [
        "elasticsearch.snapshots.beforeUpgrade: a read-only repository takes no snapshots; remove it"
    ]


@pytest.mark.parametrize(
    "endpoint", ["minio:9000\u00b2", "http://minio:99999", "minio:", "http://", "minio 9000"]
)
def test_an_endpoint_elasticsearch_cannot_reach_is_refused(endpoint: str) -> None:
    [problem] = problems(elasticsearch={"snapshots": {"repository": {**S3, "endpoint": endpoint}}})
    assert problem == (
        f"elasticsearch.snapshots.repository.endpoint: {endpoint!r} is not an endpoint: host[:port] or "
        "http(s)://host[:port], e.g. minio.storage.svc:9000, with a port from 1 to 65535 in plain digits"
    )


@pytest.mark.parametrize(
    "endpoint", ["minio:9000", "https://s3.example.com", "http://10.0.0.5:9000/", "[::1]:9000"]
)
def test_host_and_url_endpoints_are_accepted(endpoint: str) -> None:
    assert problems(elasticsearch={"snapshots": {"repository": {**S3, "endpoint": endpoint}}}) == []
