"""What a restore renders: Elastic's restore request, and the order (Logstash and Kibana wait for it)."""

from __future__ import annotations

import json
from collections.abc import Callable

import yaml

from tests.clusters import record
from tests.conftest import find, flat_config
from tests.snapshot_examples import READ_QA, restoring
from tests.snapshot_examples import RESTORE_S3 as S3
from tools.render import PROJECT_DIR, Rendered, run_program

Render = Callable[..., Rendered]


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
    assert len(jobs) == 4, "the setup Job, the snapshot Job before a change, the two topology Jobs"
    for job in jobs:
        assert job["metadata"]["annotations"]["pulumi.com/replaceUnready"] == "true"


def test_the_plan_says_which_feature_states_a_restore_takes(render: Render) -> None:
    rendered = render(**restoring({"snapshot": "nightly-1", "featureStates": ["kibana", "fleet"]}))
    [note] = [n for n in rendered.notes if "restoreFrom" in n]
    assert "'nightly-1'" in note and "[kibana, fleet] that the snapshot holds" in note
    assert "names any it leaves out" in note
