"""The setup script's restore against the fake Elasticsearch.

The request matches Elastic's restore API, it happens once, never on a cluster that
holds data, and every failure stops the Job with the reason.
"""

from __future__ import annotations

import json
from typing import Any

from components.specs.snapshots import RESTORED_MARKER
from tests.fake_elasticsearch import FakeElasticsearch, add_snapshot, needs_bash_and_curl, run_setup

REPOSITORY_BODY = {"type": "s3", "settings": {"bucket": "elk-backups", "base_path": "qa", "readonly": True}}
REQUEST = {
    "include_global_state": False,
    "feature_states": ["kibana"],
    "index_settings": {"index.number_of_replicas": 0},
}


def run_restore(es: FakeElasticsearch, snapshot: str = "latest", **overrides: str) -> Any:
    return run_setup(
        es,
        SNAPSHOT_REPOSITORY=json.dumps(REPOSITORY_BODY),
        RESTORE_SNAPSHOT=snapshot,
        RESTORE_REQUEST=json.dumps(REQUEST),
        RESTORED_MARKER=RESTORED_MARKER,
        RESTORE_MAX_SECONDS="60",
        **overrides,
    )


def paths(es: FakeElasticsearch) -> list[str]:
    return [f"{method} {path}" for method, path, _, _ in es.calls]


def restore_paths(es: FakeElasticsearch) -> list[str]:
    return [path for path in paths(es) if path.endswith("_restore?wait_for_completion=true")]


@needs_bash_and_curl
def test_a_new_stack_restores_the_newest_snapshot_that_succeeded(fake_es: FakeElasticsearch) -> None:
    add_snapshot(fake_es, "elk-stack-2026.11.25-a", "SUCCESS", ["logs-springboot-default"])
    streams = ["logs-springboot-default", "logs-myapp-x"]
    add_snapshot(fake_es, "elk-stack-2026.11.26-b", "SUCCESS", streams, feature_states=("kibana",))
    add_snapshot(fake_es, "elk-stack-2026.11.27-c", "PARTIAL", ["logs-springboot-default"])
    result = run_restore(fake_es)
    assert result.returncode == 0, result.stderr
    assert fake_es.restores == [("elk-stack-2026.11.26-b", REQUEST)]
    assert restore_paths(fake_es) == [
        "POST /_snapshot/elk-stack/elk-stack-2026.11.26-b/_restore?wait_for_completion=true"
    ]
    assert fake_es.data_streams == ["logs-springboot-default", "logs-myapp-x"]
    assert fake_es.cluster_settings == {RESTORED_MARKER: "elk-stack-2026.11.26-b"}
    calls = paths(fake_es)
    restore_at = calls.index(restore_paths(fake_es)[0])
    # After the index template (a restored data stream rolls over with it) and the
    # repository; and the snapshot's indices then get this cluster's settings.
    assert calls.index("PUT /_index_template/elk-stack-logs") < restore_at
    assert calls.index("PUT /_snapshot/elk-stack") < restore_at
    data_streams = "PUT /logs-springboot-*,logs-myapp-*/_settings"
    settings = [i for i, call in enumerate(calls) if call.startswith(data_streams)]
    assert len(settings) == 2 and settings[0] < restore_at < settings[1]
    assert "restored snapshot elk-stack-2026.11.26-b" in result.stdout


@needs_bash_and_curl
def test_a_feature_state_the_snapshot_lacks_is_left_out_and_named(fake_es: FakeElasticsearch) -> None:
    """Elasticsearch refuses the whole restore for one feature state the snapshot lacks (HTTP 500)."""
    add_snapshot(fake_es, "nightly-1", "SUCCESS", ["logs-springboot-default"], feature_states=("fleet",))
    result = run_restore(fake_es)
    assert result.returncode == 0, result.stderr
    assert fake_es.restores == [("nightly-1", {**REQUEST, "feature_states": ["none"]})]
    assert "snapshot nightly-1 holds no feature state kibana: restoring without it" in result.stdout


@needs_bash_and_curl
def test_a_named_snapshot_is_restored_as_named(fake_es: FakeElasticsearch) -> None:
    add_snapshot(fake_es, "before-9.4.4-3f2a9c01d4", "SUCCESS", ["logs-springboot-default"])
    add_snapshot(fake_es, "elk-stack-2026.11.27-c", "SUCCESS", ["logs-springboot-default"])
    result = run_restore(fake_es, "before-9.4.4-3f2a9c01d4")
    assert result.returncode == 0, result.stderr
    assert [name for name, _ in fake_es.restores] == ["before-9.4.4-3f2a9c01d4"]
    assert not [path for path in paths(fake_es) if "/_all" in path], "no listing for a named snapshot"


@needs_bash_and_curl
def test_a_restored_cluster_is_never_restored_again(fake_es: FakeElasticsearch) -> None:
    add_snapshot(fake_es, "nightly-1", "SUCCESS", ["logs-springboot-default"])
    assert run_restore(fake_es).returncode == 0
    add_snapshot(fake_es, "nightly-2", "SUCCESS", ["logs-springboot-default"])
    fake_es.data_streams.clear()  # even if everything restored was deleted since
    fake_es.calls.clear()
    rerun = run_restore(fake_es)
    assert rerun.returncode == 0, rerun.stderr
    assert [name for name, _ in fake_es.restores] == ["nightly-1"]
    assert restore_paths(fake_es) == []
    assert "restored from snapshot nightly-1 already" in rerun.stdout


@needs_bash_and_curl
def test_a_cluster_that_holds_data_is_not_restored(fake_es: FakeElasticsearch) -> None:
    add_snapshot(fake_es, "nightly-1", "SUCCESS", ["logs-springboot-default"])
    fake_es.data_streams.append("logs-springboot-default")
    fake_es.indices.append("my-notes")
    result = run_restore(fake_es)
    assert result.returncode != 0
    assert "restores only a new stack, and this cluster already holds: my-notes logs-springboot-default" in (
        result.stderr
    )
    assert "Remove elasticsearch.snapshots.restoreFrom" in result.stderr
    assert fake_es.restores == [] and fake_es.cluster_settings == {}


@needs_bash_and_curl
def test_latest_with_no_snapshot_that_succeeded_fails(fake_es: FakeElasticsearch) -> None:
    add_snapshot(fake_es, "nightly-1", "FAILED", ["logs-springboot-default"])
    add_snapshot(fake_es, "nightly-2", "PARTIAL", ["logs-springboot-default"])
    result = run_restore(fake_es)
    assert result.returncode != 0
    assert "holds none that succeeded: nothing was restored" in result.stderr
    assert fake_es.restores == [] and fake_es.cluster_settings == {}


@needs_bash_and_curl
def test_a_missing_snapshot_fails_with_elastics_reason(fake_es: FakeElasticsearch) -> None:
    result = run_restore(fake_es, "nightly-9")
    assert result.returncode != 0
    # The first request that names it: the look at its feature states, before any restore.
    assert "GET /_snapshot/elk-stack/nightly-9?" in result.stderr and "refused: HTTP 404:" in result.stderr
    assert "snapshot_missing_exception" in result.stderr
    assert fake_es.restores == []
    assert fake_es.cluster_settings == {}, "a restore that did not happen is not recorded"


@needs_bash_and_curl
def test_failed_shards_fail_the_job_and_are_not_recorded(fake_es: FakeElasticsearch) -> None:
    add_snapshot(fake_es, "nightly-1", "SUCCESS", ["logs-springboot-default", "logs-myapp-x"])
    fake_es.failed_shards = 1
    result = run_restore(fake_es)
    assert result.returncode != 0
    assert "restoring snapshot nightly-1 did not recover every shard" in result.stderr
    assert '"failed":1' in result.stderr
    assert fake_es.cluster_settings == {}


@needs_bash_and_curl
def test_a_refused_marker_check_fails_instead_of_restoring(fake_es: FakeElasticsearch) -> None:
    """Only an answer without the record means "never restored": a 401 must not restore."""
    add_snapshot(fake_es, "nightly-1", "SUCCESS", ["logs-springboot-default"])
    fake_es.refuse = "/_cluster/settings"
    fake_es.refusal_reason = "action [cluster:monitor/settings] is unauthorized"
    result = run_restore(fake_es)
    assert result.returncode != 0
    assert "GET /_cluster/settings" in result.stderr and "is unauthorized" in result.stderr
    assert fake_es.restores == []


@needs_bash_and_curl
def test_a_refused_listing_fails_instead_of_saying_there_is_none(fake_es: FakeElasticsearch) -> None:
    add_snapshot(fake_es, "nightly-1", "SUCCESS", ["logs-springboot-default"])
    fake_es.refuse = "/_snapshot/elk-stack/_all"
    result = run_restore(fake_es)
    assert result.returncode != 0
    assert "GET /_snapshot/elk-stack/_all" in result.stderr and "refused: HTTP 401" in result.stderr
    assert "none that succeeded" not in result.stderr
    assert fake_es.restores == []
