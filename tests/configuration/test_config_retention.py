"""The rules of retention and of capacity: whole days, volumes large enough, valid data streams."""

from __future__ import annotations

from tests.conftest import problems, valid


def test_retention_is_whole_days() -> None:
    assert valid(elasticsearch={"retention": {"maxAge": "30d"}}).elasticsearch.retention.days == 30
    found = problems(elasticsearch={"retention": {"maxAge": "2w", "rolloverSize": "10 GB"}})
    assert [line.split(":")[0] for line in found] == [
        "elasticsearch.retention.maxAge",
        "elasticsearch.retention.rolloverSize",
    ]


def test_a_too_small_volume_is_a_warning_by_default() -> None:
    config = valid(elasticsearch={"capacity": {"eventsPerDay": 2_000_000, "avgEventBytes": 800}})
    (warning,) = config.elasticsearch.capacity_shortfalls()
    assert warning.startswith("elasticsearch.storage.size: 10Gi is smaller than the ~")
    assert "(see `make size`)" in warning


def test_a_too_small_volume_is_an_error_when_enforced() -> None:
    found = problems(
        elasticsearch={
            "storage": {"size": "10Gi"},
            "retention": {"maxAge": "14d"},
            "capacity": {"eventsPerDay": 2_000_000, "avgEventBytes": 800, "enforce": True},
        }
    )
    assert len(found) == 1
    assert found[0].startswith(
        "elasticsearch.storage.size: 10Gi is smaller than the ~29.5Gi each data node needs"
    )


def test_a_large_enough_volume_passes_even_when_enforced() -> None:
    config = valid(
        elasticsearch={
            "storage": {"size": "30Gi"},
            "retention": {"maxAge": "14d"},
            "capacity": {"eventsPerDay": 2_000_000, "avgEventBytes": 800, "enforce": True},
        }
    )
    assert config.elasticsearch.capacity_shortfalls() == []


def test_capacity_names_the_node_set_that_is_short() -> None:
    found = problems(
        elasticsearch={
            "nodeSets": [
                {"name": "master", "replicas": 3, "roles": ["master"], "storage": {"size": "1Gi"}},
                {"name": "data", "replicas": 2, "roles": ["data"], "storage": {"size": "5Gi"}},
            ],
            "capacity": {"eventsPerDay": 2_000_000, "avgEventBytes": 800, "enforce": True},
        }
    )
    assert [line.split(":")[0] for line in found] == ["elasticsearch.nodeSets[1].storage.size"]


def test_retention_data_streams_are_checked_as_elasticsearch_checks_template_patterns() -> None:
    streams = ["logs-springboot-*", "Logs-App-*", "logs app", "_hidden-*", "*", "logs-springboot-*", ""]
    assert problems(elasticsearch={"retention": {"dataStreams": streams}}) == [
        "elasticsearch.retention.dataStreams[1]: 'Logs-App-*' must be lower case",
        "elasticsearch.retention.dataStreams[2]: 'logs app' contains ' '",
        "elasticsearch.retention.dataStreams[3]: '_hidden-*' must not start with '_', '-' or '+'",
        "elasticsearch.retention.dataStreams[4]: '*' would match every index, system ones too",
        "elasticsearch.retention.dataStreams[5]: 'logs-springboot-*' is listed twice",
        "elasticsearch.retention.dataStreams[6]: must not be empty",
    ]
    assert problems(elasticsearch={"retention": {"dataStreams": []}}) == [
        "elasticsearch.retention.dataStreams: List should have at least 1 item after validation, not 0"
    ]
