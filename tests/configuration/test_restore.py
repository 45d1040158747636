"""The rules of `snapshots.restoreFrom`: a new stack that starts from a snapshot."""

from __future__ import annotations

import pytest

from tests.conftest import problems, valid
from tests.snapshot_examples import commented_snapshots_example, restoring


def test_latest_with_the_defaults() -> None:
    snapshots = valid(**restoring({"snapshot": "latest"})).elasticsearch.snapshots
    assert snapshots is not None and snapshots.restore_from is not None
    assert snapshots.restore_from.indices is None
    assert snapshots.restore_from.feature_states == ["kibana"]


def test_the_snapshot_is_required() -> None:
    assert problems(**restoring({"indices": ["logs-*"]})) == [
        "elasticsearch.snapshots.restoreFrom.snapshot: is required"
    ]


@pytest.mark.parametrize("name", ["_latest", "Nightly", "nightly 1", "a/b", "a,b", "a#b", 'a"b', ""])
def test_a_snapshot_name_elastic_refuses_is_refused(name: str) -> None:
    [problem] = problems(**restoring({"snapshot": name}))
    assert problem.startswith("elasticsearch.snapshots.restoreFrom.snapshot: ")
    assert "is not a snapshot name" in problem


@pytest.mark.parametrize("name", ["latest", "elk-stack-2026.11.27-abc123", "before-9.4.4-3f2a9c01d4"])
def test_snapshot_names_elastic_takes_pass(name: str) -> None:
    assert valid(**restoring({"snapshot": name}))


def test_every_wrong_key_is_named_at_once() -> None:
    found = problems(
        **restoring({"snapshot": "Nightly", "indices": ["logs-*", "Bad Name"], "featureStates": ["security"]})
    )
    by_key = {line.split(":")[0]: line for line in found}
    assert set(by_key) == {
        "elasticsearch.snapshots.restoreFrom.snapshot",
        "elasticsearch.snapshots.restoreFrom.indices",
        "elasticsearch.snapshots.restoreFrom.featureStates",
    }
    assert "'Bad Name'" in by_key["elasticsearch.snapshots.restoreFrom.indices"]
    assert "would replace this stack's users" in by_key["elasticsearch.snapshots.restoreFrom.featureStates"]


def test_indices_must_select_something() -> None:
    assert problems(**restoring({"snapshot": "latest", "indices": []}))[0].startswith(
        "elasticsearch.snapshots.restoreFrom.indices: "
    )
    [problem] = problems(**restoring({"snapshot": "latest", "indices": ["-logs-debug-*"]}))
    assert "only exclusions" in problem


def test_no_feature_state_is_an_empty_list_not_none() -> None:
    [problem] = problems(**restoring({"snapshot": "latest", "featureStates": ["none"]}))
    assert "featureStates: []" in problem
    assert valid(**restoring({"snapshot": "latest", "featureStates": []}))


def test_a_typo_in_restore_from_is_named() -> None:
    [problem] = problems(**restoring({"snapshot": "latest", "indexes": ["logs-*"]}))
    assert problem.startswith("elasticsearch.snapshots.restoreFrom.indexes")


def test_the_commented_example_in_the_test_stack_file_is_valid() -> None:
    """Uncommented, the example in Pulumi.test.yaml is a valid config: it cannot rot."""
    example = commented_snapshots_example("Pulumi.test.yaml")
    snapshots = valid(elasticsearch={"snapshots": example}).elasticsearch.snapshots
    assert snapshots is not None and snapshots.restore_from is not None
    assert snapshots.repository.readonly, "a test stack only reads QA's repository"
