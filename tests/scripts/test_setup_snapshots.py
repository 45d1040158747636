"""The setup script's snapshots, against the fake Elasticsearch.

The repository, its verification and the SLM policy; and the snapshot the script takes
before a change (its snapshot mode).
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from tests.fake_elasticsearch import (
    SETUP_AUTH,
    SNAPSHOT_SCRIPT,
    FakeElasticsearch,
    needs_bash_and_curl,
    run_setup,
)

pytestmark = needs_bash_and_curl


# --- snapshots: the repository, its verification and the SLM policy -------------------


REPOSITORY_BODY: dict[str, Any] = {"type": "s3", "settings": {"bucket": "elk-backups", "base_path": "qa"}}
POLICY_BODY = {
    "schedule": "0 30 1 * * ?",
    "name": "<elk-stack-{now/d}>",
    "repository": "elk-stack",
    "config": {"include_global_state": True},
    "retention": {"expire_after": "30d", "min_count": 5, "max_count": 50},
}
WITH_SNAPSHOTS = {"SNAPSHOT_REPOSITORY": json.dumps(REPOSITORY_BODY), "SLM_POLICY": json.dumps(POLICY_BODY)}


def snapshot_calls(es: FakeElasticsearch) -> list[tuple[str, str]]:
    return [(method, path) for method, path, _, _ in es.calls if path.startswith(("/_snapshot", "/_slm"))]


def test_setup_registers_verifies_and_schedules(fake_es: FakeElasticsearch) -> None:
    result = run_setup(fake_es, **WITH_SNAPSHOTS)
    assert result.returncode == 0, result.stderr
    assert snapshot_calls(fake_es) == [
        ("PUT", "/_snapshot/elk-stack"),
        ("POST", "/_snapshot/elk-stack/_verify?timeout=90s"),
        ("PUT", "/_slm/policy/elk-stack-snapshots"),
    ]
    assert fake_es.repositories == {"elk-stack": REPOSITORY_BODY}
    assert fake_es.slm_policies == {"elk-stack-snapshots": POLICY_BODY}
    assert "verifying snapshot repository elk-stack on every node" in result.stdout


def test_snapshot_setup_survives_reruns(fake_es: FakeElasticsearch) -> None:
    assert run_setup(fake_es, **WITH_SNAPSHOTS).returncode == 0
    state = (dict(fake_es.repositories), dict(fake_es.slm_policies))
    fake_es.calls.clear()
    rerun = run_setup(fake_es, **WITH_SNAPSHOTS)
    assert rerun.returncode == 0, rerun.stderr
    assert (fake_es.repositories, fake_es.slm_policies) == state
    assert [method for method, _ in snapshot_calls(fake_es)] == ["PUT", "POST", "PUT"], "upserts only"


def test_a_repository_that_fails_verification_fails_the_job_with_elastics_reason(
    fake_es: FakeElasticsearch,
) -> None:
    fake_es.verify_failure = "[elk-stack] path [qa] is not accessible on master node"
    result = run_setup(fake_es, **WITH_SNAPSHOTS)
    assert result.returncode != 0
    assert (
        "POST /_snapshot/elk-stack/_verify?timeout=90s refused: HTTP 500: "
        '{"error":{"type":"repository_verification_exception"'
    ) in result.stderr
    assert "is not accessible on master node" in result.stderr
    assert not fake_es.slm_policies, "no policy against a repository the nodes cannot use"


def test_a_policy_without_its_repository_is_refused_with_the_reason(fake_es: FakeElasticsearch) -> None:
    """The fake refuses as Elasticsearch does; the script logs Elasticsearch's reason, not just a status."""
    policy = {**POLICY_BODY, "repository": "elsewhere"}
    result = run_setup(fake_es, **{**WITH_SNAPSHOTS, "SLM_POLICY": json.dumps(policy)})
    assert result.returncode != 0
    assert "PUT /_slm/policy/elk-stack-snapshots refused: HTTP 400:" in result.stderr
    assert "no such repository [elsewhere]" in result.stderr


def test_a_read_only_repository_removes_the_policy_an_earlier_config_installed(
    fake_es: FakeElasticsearch,
) -> None:
    assert run_setup(fake_es, **WITH_SNAPSHOTS).returncode == 0
    readonly = {"type": "s3", "settings": {**REPOSITORY_BODY["settings"], "readonly": True}}
    fake_es.calls.clear()
    result = run_setup(fake_es, SNAPSHOT_REPOSITORY=json.dumps(readonly))
    assert result.returncode == 0, result.stderr
    assert fake_es.repositories == {"elk-stack": readonly}
    assert fake_es.slm_policies == {}
    assert ("DELETE", "/_slm/policy/elk-stack-snapshots") in snapshot_calls(fake_es)


def test_removed_snapshots_unregister_the_repository_and_delete_the_policy(
    fake_es: FakeElasticsearch,
) -> None:
    assert run_setup(fake_es, **WITH_SNAPSHOTS).returncode == 0
    fake_es.calls.clear()
    result = run_setup(fake_es)
    assert result.returncode == 0, result.stderr
    assert snapshot_calls(fake_es) == [
        ("GET", "/_slm/policy/elk-stack-snapshots"),
        ("DELETE", "/_slm/policy/elk-stack-snapshots"),
        ("GET", "/_snapshot/elk-stack"),
        ("DELETE", "/_snapshot/elk-stack"),
    ]
    assert fake_es.repositories == {}
    assert fake_es.slm_policies == {}


def test_a_refused_existence_check_fails_with_its_reason(fake_es: FakeElasticsearch) -> None:
    """Only a 404 means "absent": a 401 or 403 must not be read as "nothing to remove"."""
    fake_es.refuse = "/_slm/policy/"
    fake_es.refusal_reason = "action [cluster:admin/slm/get] is unauthorized"
    result = run_setup(fake_es)
    assert result.returncode != 0
    assert "GET /_slm/policy/elk-stack-snapshots refused: HTTP 401:" in result.stderr
    assert "cluster:admin/slm/get] is unauthorized" in result.stderr


# --- the snapshot before a change: the setup script's snapshot mode --------------------


def run_snapshot_job(es: FakeElasticsearch, **overrides: str) -> subprocess.CompletedProcess[str]:
    """The script as the snapshot Job runs it: only the client wiring and the change."""
    env = {
        "PATH": os.environ["PATH"],
        "ES_URL": es.url,
        "SETUP_USERNAME": "elk-stack-setup",
        "SETUP_PASSWORD": "setup-pw",
        "SNAPSHOT_REPOSITORY_NAME": "elk-stack",
        "SNAPSHOT_BEFORE_CHANGE": "before-9.4.4-0123456789",
        "TARGET_VERSION": "9.4.4",
        "NODE_NAMES": "^(elk-elasticsearch-master|elk-elasticsearch-data)-[0-9]+$",
        "WAIT_ATTEMPTS": "5",
        "WAIT_SECONDS": "0",
        "SNAPSHOT_POLL_SECONDS": "0",
        **overrides,
    }
    return subprocess.run(
        ["bash", str(SNAPSHOT_SCRIPT)], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def with_repository(es: FakeElasticsearch) -> FakeElasticsearch:
    es.repositories["elk-stack"] = REPOSITORY_BODY
    return es


SNAPSHOT_PATH = "/_snapshot/elk-stack/before-9.4.4-0123456789"


def test_no_snapshot_when_every_node_already_runs_the_target(fake_es: FakeElasticsearch) -> None:
    """A first deploy, or a re-run after the change: nothing will restart, nothing to protect."""
    fake_es.nodes = ["elk-elasticsearch-master-0 9.4.4", "elk-elasticsearch-data-0 9.4.4"]
    result = run_snapshot_job(with_repository(fake_es))
    assert result.returncode == 0, result.stderr
    assert "nothing to snapshot" in result.stdout
    assert [(m, p) for m, p, _, _ in fake_es.calls] == [
        ("GET", "/_cluster/health?wait_for_status=yellow&timeout=5s"),
        ("GET", "/_cat/nodes?h=name,version"),
    ]
    assert {auth for _, _, auth, _ in fake_es.calls} == {SETUP_AUTH}


def test_a_version_change_takes_a_snapshot_and_waits_for_it(fake_es: FakeElasticsearch) -> None:
    fake_es.nodes = ["elk-elasticsearch-master-0 9.4.3", "elk-elasticsearch-data-0 9.4.3"]
    fake_es.snapshot_states = ["IN_PROGRESS", "IN_PROGRESS", "SUCCESS"]
    result = run_snapshot_job(with_repository(fake_es))
    assert result.returncode == 0, result.stderr
    assert (
        "about to change: elk-elasticsearch-master-0 (9.4.3) elk-elasticsearch-data-0 (9.4.3)"
        in result.stdout
    )
    calls = [(m, p) for m, p, _, _ in fake_es.calls if p.startswith("/_snapshot")]
    assert calls == [
        ("GET", "/_snapshot/elk-stack"),
        ("GET", SNAPSHOT_PATH),
        ("PUT", SNAPSHOT_PATH),
        ("GET", SNAPSHOT_PATH),
        ("GET", SNAPSHOT_PATH),
        ("GET", SNAPSHOT_PATH),
    ]
    # Elastic's create snapshot API: the cluster state with its feature states (Kibana's saved objects).
    assert fake_es.snapshots["before-9.4.4-0123456789"]["request"] == {
        "include_global_state": True,
        "metadata": {"taken_by": "elk-stack", "reason": "before a change"},
    }
    assert "snapshot before-9.4.4-0123456789 succeeded" in result.stdout


def test_a_removed_node_set_takes_a_snapshot(fake_es: FakeElasticsearch) -> None:
    """Same version, but a node of a set no longer declared: it is about to be deleted."""
    fake_es.nodes = ["elk-elasticsearch-master-0 9.4.4", "elk-elasticsearch-warm-0 9.4.4"]
    result = run_snapshot_job(with_repository(fake_es))
    assert result.returncode == 0, result.stderr
    assert "about to change: elk-elasticsearch-warm-0 (9.4.4)" in result.stdout
    assert "before-9.4.4-0123456789" in fake_es.snapshots


def test_a_failed_snapshot_fails_the_job_with_its_answer(fake_es: FakeElasticsearch) -> None:
    fake_es.nodes = ["elk-elasticsearch-master-0 9.4.3"]
    fake_es.snapshot_states = ["IN_PROGRESS", "FAILED"]
    result = run_snapshot_job(with_repository(fake_es))
    assert result.returncode == 1
    assert "snapshot before-9.4.4-0123456789 ended FAILED: " in result.stderr
    assert '"state":"FAILED"' in result.stderr
    assert "The deploy stops here: no Elasticsearch pod has been touched." in result.stderr


def test_a_partial_snapshot_is_a_failure(fake_es: FakeElasticsearch) -> None:
    """PARTIAL means some shards are not in it: not a snapshot to upgrade on."""
    fake_es.nodes = ["elk-elasticsearch-master-0 9.4.3"]
    fake_es.snapshot_states = ["PARTIAL"]
    result = run_snapshot_job(with_repository(fake_es))
    assert result.returncode == 1
    assert "ended PARTIAL" in result.stderr


def test_a_snapshot_that_never_ends_fails_after_the_budget(fake_es: FakeElasticsearch) -> None:
    fake_es.nodes = ["elk-elasticsearch-master-0 9.4.3"]
    fake_es.snapshot_states = ["IN_PROGRESS"] * 10
    result = run_snapshot_job(with_repository(fake_es), SNAPSHOT_POLL_ATTEMPTS="3")
    assert result.returncode == 1
    assert "still IN_PROGRESS after 3 checks" in result.stderr


def test_without_the_repository_the_job_says_what_to_do(fake_es: FakeElasticsearch) -> None:
    fake_es.nodes = ["elk-elasticsearch-master-0 9.4.3"]
    result = run_snapshot_job(fake_es)
    assert result.returncode == 1
    assert "repository elk-stack is not registered" in result.stderr
    assert "elasticsearch.snapshots.beforeUpgrade false" in result.stderr
    assert not fake_es.snapshots


def test_a_rerun_waits_for_its_snapshot_instead_of_taking_another(fake_es: FakeElasticsearch) -> None:
    fake_es.nodes = ["elk-elasticsearch-master-0 9.4.3"]
    assert run_snapshot_job(with_repository(fake_es)).returncode == 0
    fake_es.calls.clear()
    rerun = run_snapshot_job(fake_es)
    assert rerun.returncode == 0, rerun.stderr
    assert ("PUT", SNAPSHOT_PATH) not in [(m, p) for m, p, _, _ in fake_es.calls]


def test_a_refused_snapshot_request_is_logged_with_the_reason(fake_es: FakeElasticsearch) -> None:
    fake_es.nodes = ["elk-elasticsearch-master-0 9.4.3"]
    fake_es.refuse = SNAPSHOT_PATH
    fake_es.refusal_reason = "action [cluster:admin/snapshot/create] is unauthorized"
    result = run_snapshot_job(with_repository(fake_es))
    assert result.returncode != 0
    assert f"GET {SNAPSHOT_PATH} refused: HTTP 401:" in result.stderr
    assert "cluster:admin/snapshot/create] is unauthorized" in result.stderr
