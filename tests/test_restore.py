"""A new stack that starts from a snapshot (issue 12, `snapshots.restoreFrom`).

The rules of the config, what the program renders (the request body, the order: Logstash
and Kibana wait for the restore), and the setup script's restore against the fake
Elasticsearch: the request matches Elastic's restore API, it happens once, never on a
cluster that holds data, and every failure stops the Job with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from components.specs.snapshots import RESTORED_MARKER
from tests.clusters import record
from tests.conftest import find, flat_config, problems, valid
from tests.fake_elasticsearch import FakeElasticsearch, add_snapshot, needs_bash_and_curl, run_setup
from tests.snapshot_examples import READ_QA, commented_snapshots_example, restoring
from tests.snapshot_examples import RESTORE_S3 as S3
from tools.render import PROJECT_DIR, Rendered, run_program

Render = Callable[..., Rendered]


# --- the rules ----------------------------------------------------------------------------


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


# --- what the program renders -------------------------------------------------------------

SETUP_JOB = "kubernetes:batch/v1:Job::setup"


def setup_env(rendered: Rendered) -> dict[str, str]:
    job = find(rendered.manifests, "Job", "elk-elasticsearch-setup")
    return {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_the_job_sends_elastics_restore_request(render: Render) -> None:
    rendered = render(
        **restoring({"snapshot": "latest", "indices": ["logs-*", "-logs-debug-*"], "featureStates": []})
    )
    env = setup_env(rendered)
    assert env["RESTORE_SNAPSHOT"] == "latest"
    assert env["RESTORED_MARKER"] == "cluster.metadata.elk_stack_restored_from"
    # POST _snapshot/<repository>/<snapshot>/_restore (Elastic's API reference): a
    # comma-separated `indices`, no cluster state, ["none"] for no feature state.
    assert json.loads(env["RESTORE_REQUEST"]) == {
        "indices": "logs-*,-logs-debug-*",
        "include_global_state": False,
        "feature_states": ["none"],
        "index_settings": {"index.number_of_replicas": 0},
    }


def test_kibana_comes_back_and_replicas_follow_this_cluster(render: Render) -> None:
    three_data_nodes = {
        "nodeSets": [
            {"name": "master", "replicas": 3, "roles": ["master"]},
            {"name": "data", "replicas": 3, "roles": ["data", "ingest"]},
        ]
    }
    rendered = render(
        elasticsearch={
            **three_data_nodes,
            "snapshots": {"repository": READ_QA, "restoreFrom": {"snapshot": "nightly-1"}},
        }
    )
    body = json.loads(setup_env(rendered)["RESTORE_REQUEST"])
    assert "indices" not in body, "omitted: every regular data stream and index in the snapshot"
    assert body["feature_states"] == ["kibana"]
    assert body["index_settings"] == {"index.number_of_replicas": 1}


def test_logstash_and_kibana_wait_for_the_restore(render: Render) -> None:
    rendered = render(**restoring({"snapshot": "latest"}))
    assert SETUP_JOB in record(rendered, "kubernetes:apps/v1:StatefulSet", "logstash")["dependsOn"]
    assert SETUP_JOB in record(rendered, "kubernetes:apps/v1:Deployment", "kibana")["dependsOn"]


def test_without_a_restore_nothing_waits_for_the_setup_job(rendered_stacks: dict[str, Rendered]) -> None:
    for rendered in rendered_stacks.values():
        for record_ in rendered.resources:
            assert SETUP_JOB not in record_["dependsOn"], record_["name"]


def test_the_job_and_the_engine_give_a_restore_time(
    render: Render, rendered_stacks: dict[str, Rendered]
) -> None:
    rendered = render(**restoring({"snapshot": "latest"}))
    job = find(rendered.manifests, "Job", "elk-elasticsearch-setup")
    assert job["spec"]["activeDeadlineSeconds"] == 90 * 60
    setup = record(rendered, "kubernetes:batch/v1:Job", "setup")
    assert setup["customTimeouts"] == {"create": "95m"}
    assert int(setup_env(rendered)["RESTORE_MAX_SECONDS"]) == 60 * 60
    plain = find(rendered_stacks["qa"].manifests, "Job", "elk-elasticsearch-setup")
    assert plain["spec"]["activeDeadlineSeconds"] == 30 * 60


def test_the_setup_user_may_see_every_index_to_know_the_cluster_is_new() -> None:
    config = flat_config(**restoring({"snapshot": "latest"}))
    rendered = run_program(config, stack="unit", project_dir=PROJECT_DIR, show_secrets=True)
    secret = find(rendered.manifests, "Secret", "elk-elasticsearch-file-realm")
    roles = yaml.safe_load(secret["stringData"]["roles.yml"])
    assert {"names": ["*"], "privileges": ["view_index_metadata"]} in roles["elk_stack_setup"]["indices"]


def test_every_job_is_run_again_by_the_next_up_when_it_failed(render: Render) -> None:
    """pulumi-kubernetes would wait again for a failed Job; the annotation replaces it."""
    rendered = render(elasticsearch={"snapshots": {"repository": S3, "restoreFrom": {"snapshot": "latest"}}})
    jobs = [m for m in rendered.manifests if m["kind"] == "Job"]
    assert len(jobs) == 2, "the setup Job and the snapshot Job before a change"
    for job in jobs:
        assert job["metadata"]["annotations"]["pulumi.com/replaceUnready"] == "true"


# --- the script against the fake Elasticsearch ---------------------------------------------

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


def test_the_plan_says_which_feature_states_a_restore_takes(render: Render) -> None:
    rendered = render(**restoring({"snapshot": "nightly-1", "featureStates": ["kibana", "fleet"]}))
    [note] = [n for n in rendered.notes if "restoreFrom" in n]
    assert "'nightly-1'" in note and "[kibana, fleet] that the snapshot holds" in note
    assert "names any it leaves out" in note
