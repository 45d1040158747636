"""The deploy record: what the stack rolled out; a downgrade or a shrink that loses data is refused."""

from __future__ import annotations

from typing import Any

import pytest

from components.generated.deploy_record import (
    ClaimRecordProvider,
    DeployRecordProvider,
    downgrade_refusal,
    drain_refusal,
    quorum_refusal,
    version_tuple,
)

PROVIDER = DeployRecordProvider()


def pods(name: str, count: int) -> list[str]:
    return [f"elk-elasticsearch-{name}-{i}" for i in range(count)]


def state(version: str = "9.4.3", masters: int = 3, data: int = 3, **overrides: Any) -> dict[str, Any]:
    return {
        "version": version,
        "masters": pods("master", masters),
        "data_nodes": pods("data", data),
        **overrides,
    }


def failures(olds: dict[str, Any], news: dict[str, Any]) -> dict[str, str]:
    return {failure.property: failure.reason for failure in PROVIDER.check(olds, news).failures}


@pytest.mark.parametrize(
    ("stored", "wanted"),
    [
        ("9.4.3", "9.2.0"),
        ("9.4.3", "9.4.2"),
        ("10.0.0", "9.99.99"),
        ("9.10.0", "9.9.0"),
        ("8.19.0", "8.15.0"),
    ],
)
def test_a_lower_version_is_refused_in_one_line_naming_the_key_and_both_versions(
    stored: str, wanted: str
) -> None:
    found = failures(state(stored), state(wanted))
    assert list(found) == ["version"]
    assert "\n" not in found["version"]
    assert found["version"].startswith(f"elk-stack:version is {wanted}, older than {stored},")
    assert "restore a snapshot into a new stack" in found["version"]


@pytest.mark.parametrize(
    ("stored", "wanted"),
    [(None, "9.2.0"), ("9.2.0", "9.2.0"), ("9.2.0", "9.4.3"), ("9.9.0", "9.10.0"), ("8.19.0", "9.0.0")],
)
def test_a_first_deploy_the_same_version_and_an_upgrade_pass(stored: str | None, wanted: str) -> None:
    olds = {} if stored is None else state(stored)
    result = PROVIDER.check(olds, state(wanted))
    assert result.failures == []
    assert result.inputs == state(wanted)


def test_an_unknown_or_odd_stored_value_never_refuses() -> None:
    """Only two known values can be compared; the program's own schema checks what it is given."""
    assert downgrade_refusal("04000000-0000-0000-0000-000000000000", "9.2.0") is None
    assert downgrade_refusal("9.4.3", None) is None
    assert quorum_refusal(None, pods("master", 1)) is None
    assert drain_refusal(pods("data", 3), None, masters_stay=True) is None
    assert version_tuple("9.4") is None
    assert version_tuple("9.10.1") == (9, 10, 1)


@pytest.mark.parametrize(
    ("before", "after"), [(3, 1), (5, 2), (2, 1), (4, 2), (3, 2), (1, 3), (3, 3), (13, 3)]
)
def test_masters_may_shrink_to_one_as_the_leave_job_excludes_them(before: int, after: int) -> None:
    assert "masters" not in failures(state(masters=before), state(masters=after))


def test_more_masters_leaving_than_elasticsearch_can_exclude_from_voting_are_refused() -> None:
    reason = failures(state(masters=14), state(masters=3))["masters"]
    assert reason == (
        "elk-stack:elasticsearch: 11 of the 14 master-eligible nodes would leave in one step, and "
        "Elasticsearch excludes at most 10 from voting at once; remove at most 10 per `pulumi up` "
        "(docs/operations.md, Removing nodes)"
    )


def test_new_master_sets_are_a_new_cluster_and_not_compared() -> None:
    """The inline form turned into node sets: no stored master stays (docs: a new cluster)."""
    olds = {"version": "9.4.3", "masters": ["elk-elasticsearch-0"], "data_nodes": ["elk-elasticsearch-0"]}
    assert failures(olds, state(masters=3, data=2)) == {}


@pytest.mark.parametrize(("before", "after"), [(3, 1), (5, 3), (20, 1), (3, 2), (1, 3), (3, 3)])
def test_data_nodes_may_leave_as_many_at_once_as_the_leave_job_can_drain(before: int, after: int) -> None:
    assert "data_nodes" not in failures(state(data=before), state(data=after))


def test_a_data_set_replaced_in_one_step_is_refused_while_the_cluster_goes_on() -> None:
    """Nothing that runs could take the old set's shards: the new set starts after the drain."""
    olds = state(data=2)
    news = state(data=0) | {"data_nodes": pods("hot", 2)}
    reason = failures(olds, news)["data_nodes"]
    assert reason.startswith(
        "elk-stack:elasticsearch: every data node of the cluster would leave in one step "
        "(elk-elasticsearch-data-0, elk-elasticsearch-data-1), and the new ones do not run yet"
    )
    assert "add the new node set in one `pulumi up`, then remove the old one in the next" in reason
    assert "\n" not in reason
    olds["data_nodes"] += pods("hot", 2)
    assert "data_nodes" not in failures(olds, news), "a set removed while another stays is drained"


def sizes(**claims: str) -> dict[str, str]:
    return {f"data-elk-elasticsearch-{pod.replace('_', '-')}": size for pod, size in claims.items()}


def test_a_smaller_data_volume_is_refused_naming_the_claims_and_the_way_out() -> None:
    olds = state(claim_sizes=sizes(data_0="20Gi", data_1="20Gi", data_2="20Gi"))
    news = state(claim_sizes=sizes(data_0="20Gi", data_1="10Gi", data_2="19999Mi"))
    reason = failures(olds, news)["claim_sizes"]
    assert reason.startswith(
        "elk-stack:elasticsearch: storage.size would shrink data-elk-elasticsearch-data-1 from 20Gi to "
        "10Gi, data-elk-elasticsearch-data-2 from 20Gi to 19999Mi; Kubernetes cannot make a claim smaller"
    )
    assert "add a node set with the smaller size in one `pulumi up` and remove the old set" in reason


@pytest.mark.parametrize(
    ("stored", "wanted"),
    [
        ({"data_0": "20Gi"}, {"data_0": "21474836480"}),
        ({"data_0": "20Gi"}, {"data_0": "40Gi"}),
        ({"data_0": "20Gi"}, {"data_1": "1Gi"}),
        ({}, {"data_0": "1Gi"}),
    ],
    ids=["same-bytes", "grown", "another-claim", "first-record"],
)
def test_the_same_a_larger_or_a_new_claim_passes(stored: dict[str, str], wanted: dict[str, str]) -> None:
    news = state(claim_sizes=sizes(**wanted))
    assert "claim_sizes" not in failures(state(claim_sizes=sizes(**stored)), news)
    assert "claim_sizes" not in failures(state(), news), "a record from before sizes were kept"


def test_a_change_of_what_is_recorded_is_an_update_in_place_that_stores_it() -> None:
    old, new = state("9.2.0"), state("9.4.3", data=4)
    diff = PROVIDER.diff("deploy-record", old, new)
    assert diff.changes is True
    assert diff.replaces == []
    assert PROVIDER.diff("deploy-record", new, dict(new)).changes is False
    assert PROVIDER.update("deploy-record", old, new).outs == new
    created = PROVIDER.create(old)
    assert created.outs == old
    assert PROVIDER.read("deploy-record", created.outs).outs == old


def test_preview_shows_in_plain_words_what_an_allowed_change_does(capsys: pytest.CaptureFixture[str]) -> None:
    """The engine shows a dynamic provider's stderr beside the resource, in `preview` and `up`."""
    olds, news = state("9.2.0", masters=3, data=4), state("9.4.3", masters=1, data=3)
    news["data_nodes"] += ["elk-elasticsearch-hot-0"]
    assert failures(olds, news) == {}
    assert capsys.readouterr().err.splitlines() == [
        "elk-stack plan: elk-stack:version 9.2.0 → 9.4.3: the snapshot Job first (when "
        "elasticsearch.snapshots.beforeUpgrade is on), then the node sets one pod at a time, coldest "
        "tier first and master-eligible sets last",
        "elk-stack plan: excludes elk-elasticsearch-master-1, elk-elasticsearch-master-2 from voting "
        "(the topology leave Job), then removes them; the settle Job clears the exclusions",
        "elk-stack plan: drains elk-elasticsearch-data-3 (the topology leave Job, which refuses first if "
        "the nodes that stay cannot hold their shards), then removes them; their claims stay",
        "elk-stack plan: adds elk-elasticsearch-hot-0",
    ]


def test_preview_says_nothing_for_no_change_a_first_deploy_or_a_refusal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    failures(state(), state())
    failures({}, state())
    assert "version" in failures(state("9.4.3"), state("9.2.0", masters=1))
    assert capsys.readouterr().err == ""


def queue_record(**claims: str) -> dict[str, Any]:
    return {
        "claim_sizes": {f"queue-elk-logstash-{i}": size for i, size in enumerate(claims.values())},
        "key": "elk-stack:logstash: queue.storage.size",
        "way_out": "Lower logstash.queue.maxBytes.",
    }


def test_a_smaller_queue_claim_is_refused_with_its_own_key_and_way_out() -> None:
    provider = ClaimRecordProvider()
    [failure] = provider.check(queue_record(a="2Gi", b="2Gi"), queue_record(a="2Gi", b="1Gi")).failures
    assert failure.reason == (
        "elk-stack:logstash: queue.storage.size would shrink queue-elk-logstash-1 from 2Gi to 1Gi; "
        "Kubernetes cannot make a claim smaller, so keep the size (a claim only grows). "
        "Lower logstash.queue.maxBytes."
    )
    assert provider.check({}, queue_record(a="1Gi")).failures == []
    assert provider.check(queue_record(a="1Gi"), queue_record(a="3Gi")).failures == []


def test_the_claim_record_updates_in_place_when_a_size_changes() -> None:
    provider = ClaimRecordProvider()
    old, new = queue_record(a="2Gi"), queue_record(a="3Gi")
    assert provider.diff("claim-record", old, new).changes is True
    assert provider.diff("claim-record", old, new).replaces == []
    assert provider.diff("claim-record", new, dict(new)).changes is False
    assert provider.update("claim-record", old, new).outs == new
