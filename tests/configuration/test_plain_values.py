"""Values pydantic's lax reading or Elasticsearch itself would take otherwise, refused by key.

Each was found by generating stack files: accepted at render time, then refused by
Elasticsearch or Logstash at deploy time, or read as something the user did not mean.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import problems, valid

S3 = {"type": "s3", "bucket": "elk-backups", "credentialsSecret": "s3-keys"}


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        (
            {"version": "09.4.3"},
            "version: '09.4.3' is not a version like 9.4.3 (numbers without leading zeros)",
        ),
        ({"version": "9.4." + "3" * 62}, "characters; a version has at most 63"),
        (
            {"elasticsearch": {"retention": {"maxAge": "14d", "rolloverSize": "9000pb"}}},
            "elasticsearch.retention.rolloverSize: 9000pb is more than 8191pb",
        ),
        (
            {"elasticsearch": {"retention": {"dataStreams": ["logs-a%b-*"]}}},
            "elasticsearch.retention.dataStreams[0]: 'logs-a%b-*' contains '%'",
        ),
        (
            {"logstash": {"queue": {"maxBytes": "1kb"}}},
            "logstash.queue.maxBytes: 1kb is less than one queue page",
        ),
        ({"elasticsearch": {"replicas": True}}, "elasticsearch.replicas: true is not a number"),
        (
            {"elasticsearch": {"snapshots": {"repository": {**S3, "endpoint": "minio:9000\n"}}}},
            "repository.endpoint: 'minio:9000\\n' contains the invisible character U+000A",
        ),
        (
            {"elasticsearch": {"snapshots": {"repository": {**S3, "endpoint": "minio\u202e:9000"}}}},
            "contains the invisible character U+202E",
        ),
        (
            {"elasticsearch": {"retention": {"dataStreams": ["logs-a-*", "logs-\x00-*"]}}},
            "elasticsearch.retention.dataStreams[1]: 'logs-\\x00-*' contains the invisible character U+0000",
        ),
        (
            {"elasticsearch": {"snapshots": {"repository": S3, "retention": {"maxCount": 2**31}}}},
            "elasticsearch.snapshots.retention.maxCount",
        ),
        (
            {
                "elasticsearch": {
                    "snapshots": {"repository": S3, "retention": {"expireAfter": "99999999999999d"}}
                }
            },
            "elasticsearch.snapshots.retention.expireAfter: 99999999999999d is more than 36500d",
        ),
        (
            {"elasticsearch": {"snapshots": {"repository": S3, "schedule": "0 0/75 1 * * ?"}}},
            "'0/75': the step after '/' must be at most 59",
        ),
        (
            {"elasticsearch": {"snapshots": {"repository": S3, "schedule": "0 30 1 L-45 * ?"}}},
            "day of month field 'L-45'",
        ),
        (
            {"elasticsearch": {"snapshots": {"repository": S3, "schedule": "0 \uff130 1 * * ?"}}},
            "only ASCII digits and names",
        ),
        (
            {"elasticsearch": {"snapshots": {"repository": S3, "restoreFrom": {"snapshot": "nightly-%41"}}}},
            "is not a snapshot name",
        ),
    ],
)
def test_a_value_elasticsearch_or_logstash_would_refuse_is_refused_by_key(
    sections: dict[str, Any], expected: str
) -> None:
    found = problems(**sections)
    assert len(found) == 1 and expected in found[0], found


def test_what_elastic_accepts_still_passes() -> None:
    """The bounds sit where Elasticsearch's are, not below what people use."""
    assert problems(version="10.0.0") == []
    assert problems(elasticsearch={"retention": {"maxAge": "14d", "rolloverSize": "8191pb"}}) == []
    schedule = {"repository": S3, "schedule": "0 0/59 1 L-30 * ?", "retention": {"maxCount": 2**31 - 1}}
    assert problems(elasticsearch={"snapshots": schedule}) == []
    assert (
        problems(logstash={"queue": {"type": "persisted", "maxBytes": "64mb", "storage": {"size": "2Gi"}}})
        == []
    )


def test_logstash_before_8_8_is_not_given_options_it_does_not_have() -> None:
    """The output's `ssl_*` options came with Logstash 8.8: older versions get the older names."""
    assert valid(version="8.7.1").logstash.pipeline == "pipelines/spring-boot-json-before-8.8.conf"
    assert valid(version="8.8.0").logstash.pipeline == "pipelines/spring-boot-json.conf"
    found = problems(version="8.7.1", logstash={"pipeline": "pipelines/spring-boot-json.conf"})
    assert found == [
        f"logstash.pipeline: pipelines/spring-boot-json.conf: the elasticsearch output at line 27 sets "
        f"{option}, which exists from Logstash 8.8; use version 8.8 or later, or a pipeline with the older "
        "`ssl`/`cacert` options"
        for option in sorted(("ssl_enabled", "ssl_certificate_authorities", "ssl_verification_mode"))
    ]
