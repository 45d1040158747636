"""`snapshots.restoreFrom` on real nodes: a new stack starts from another stack's snapshot, once.

A one-node stack's fs repository is the share; the restoring stack claims it read-only
(tools/real_es: `Workspace.share`, as two claims of one NFS export).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.real.conftest import STACK_FILES, open_stack, run_setup, start_first_nodes
from tools.real_es.stack import RealStack

REPOSITORY_CLAIM = "elk-elasticsearch-snapshots"
SOURCE_INDEX = "real-tier-restored"


@pytest.fixture(scope="module")
def source(snapshot_source: RealStack) -> RealStack:
    """The fs repository's stack, holding one index and one snapshot of it."""
    stack = snapshot_source
    docs = [line for n in range(50) for line in ({"index": {"_index": SOURCE_INDEX}}, {"n": n})]
    answer = stack.client("elk-elastic-credentials").request(
        "POST", stack.url("/_bulk?refresh=true"), docs, ndjson=True
    )
    assert answer.status == 200 and not answer.body["errors"], answer.text
    taken = stack.request(
        "PUT", "/_snapshot/elk-stack/source-1?wait_for_completion=true", {"include_global_state": True}
    )
    assert taken.status == 200 and taken.body["snapshot"]["state"] == "SUCCESS", taken.text
    return stack


@pytest.fixture(scope="module")
def restoring(source: RealStack) -> Iterator[dict[str, RealStack]]:
    """Two new stacks that restore from the source's repository, their nodes started together."""
    stacks = [open_stack(name, STACK_FILES / "restore.yaml") for name in ("restored", "not-new")]
    for stack in stacks:
        stack.workspace.share(REPOSITORY_CLAIM, source.workspace.root / "claims" / REPOSITORY_CLAIM)
    start_first_nodes(stacks)
    yield {stack.name: stack for stack in stacks}
    for stack in stacks:
        stack.stop_all()


@pytest.fixture(scope="module")
def restored(restoring: dict[str, RealStack]) -> RealStack:
    return restoring["restored"]


def test_a_new_stack_restores_the_latest_snapshot(restored: RealStack) -> None:
    """The default `featureStates: [kibana]` with a snapshot that has no Kibana feature state."""
    run = run_setup(restored)
    assert run.returncode == 0, run.output
    assert "restored snapshot source-1" in run.output
    assert "holds no feature state kibana" in run.output, "the skipped feature state is named"
    assert restored.request("GET", f"/{SOURCE_INDEX}/_count").body["count"] == 50


def test_a_restored_stack_is_never_restored_again(restored: RealStack) -> None:
    run = run_setup(restored)
    assert run.returncode == 0, run.output
    assert "restored from snapshot source-1 already" in run.output


def test_a_stack_that_holds_data_is_never_restored(restoring: dict[str, RealStack]) -> None:
    stack = restoring["not-new"]
    assert stack.request("PUT", "/someone-elses-data").status == 200
    run = run_setup(stack)
    assert run.returncode == 1
    assert "already holds: someone-elses-data" in run.output
    assert stack.request("GET", f"/{SOURCE_INDEX}").status == 404
