"""The setup Job's script against a fake Elasticsearch: its user, retention, waits and refusals."""

from __future__ import annotations

import base64
import json
import re
import time

import pytest

from components.specs.clients import CLIENT_LIBRARY, RESTORE_SCRIPT, SNAPSHOT_SCRIPT
from tests.fake_elasticsearch import (
    COMPONENT,
    POLICY,
    SCRIPT,
    SETTINGS,
    SETUP_AUTH,
    TEMPLATE,
    FakeElasticsearch,
    needs_bash_and_curl,
    run_setup,
)
from tests.readers import job_env
from tools.render import PROJECT_DIR, Rendered

pytestmark = needs_bash_and_curl


# What a version before the file realm left behind: Logstash's user and role, marked.
LEGACY_MARK = {"metadata": {"managed_by": "elk-stack"}}


def test_setup_logs_in_as_its_own_user_and_writes_no_user(fake_es: FakeElasticsearch) -> None:
    """The stack's users are in the file realm: the Job sets no password and creates no user."""
    result = run_setup(fake_es)
    assert result.returncode == 0, result.stderr
    assert [(method, path) for method, path, _, _ in fake_es.calls] == [
        ("GET", "/_cluster/health?wait_for_status=yellow&timeout=5s"),
        ("PUT", "/_ilm/policy/elk-stack-logs"),
        ("PUT", "/_component_template/elk-stack-logs@custom"),
        ("PUT", "/_index_template/elk-stack-logs"),
        ("PUT", "/logs-springboot-*,logs-myapp-*/_settings?allow_no_indices=true&ignore_unavailable=true"),
        ("GET", "/_security/user?filter_path=*.metadata.managed_by"),
        ("GET", "/_security/role?filter_path=*.metadata.managed_by"),
        # No snapshots configured: only a check that none were left from an earlier config.
        ("GET", "/_slm/policy/elk-stack-snapshots"),
        ("GET", "/_snapshot/elk-stack"),
    ]
    assert {auth for _, _, auth, _ in fake_es.calls} == {SETUP_AUTH}
    assert not fake_es.users and not fake_es.roles


def test_a_changed_elastic_password_breaks_nothing(fake_es: FakeElasticsearch) -> None:
    """Someone changed `elastic`'s password through the API; the cluster lets in only the
    setup user of the file realm and `elastic` with its new password. The Job still works."""
    fake_es.accepts = {SETUP_AUTH, "Basic " + base64.b64encode(b"elastic:changed-by-a-person").decode()}
    result = run_setup(fake_es)
    assert result.returncode == 0, result.stderr
    assert fake_es.templates, "retention was installed"


def test_setup_is_idempotent(fake_es: FakeElasticsearch) -> None:
    fake_es.users["logstash-writer"] = {"roles": ["logstash-writer"], **LEGACY_MARK}
    assert run_setup(fake_es).returncode == 0
    first = (dict(fake_es.users), dict(fake_es.roles), dict(fake_es.templates))
    calls = len(fake_es.calls)
    second_run = run_setup(fake_es)
    assert second_run.returncode == 0, second_run.stderr
    assert (fake_es.users, fake_es.roles, fake_es.templates) == first
    assert len(fake_es.calls) == 2 * calls - 1, "the same requests, less the one deletion"
    assert all(method in ("GET", "PUT") for method, _, _, _ in fake_es.calls[calls:]), "nothing to delete"


def test_setup_waits_for_the_cluster(fake_es: FakeElasticsearch) -> None:
    fake_es.unhealthy_answers = 2
    result = run_setup(fake_es)
    assert result.returncode == 0, result.stderr
    health = [path for _, path, _, _ in fake_es.calls if path.startswith("/_cluster/health")]
    assert len(health) == 3


def test_setup_gives_up_when_the_cluster_never_comes(fake_es: FakeElasticsearch) -> None:
    fake_es.unhealthy_answers = 100
    result = run_setup(fake_es, WAIT_ATTEMPTS="3")
    assert result.returncode == 1
    assert "did not become ready after 3 attempts" in result.stderr
    assert not fake_es.policies


def test_setup_fails_on_an_error_answer(fake_es: FakeElasticsearch) -> None:
    """A refused request (a right the setup role lacks, say) must fail the Job, not pass silently."""
    fake_es.refuse = "/_component_template/"
    fake_es.refusal_reason = "action [cluster:admin/component_template/put] is unauthorized"
    result = run_setup(fake_es)
    assert result.returncode != 0
    assert not fake_es.templates, "nothing after the refused step runs"
    assert (
        "PUT /_component_template/elk-stack-logs@custom refused: HTTP 401: "
        '{"error":{"type":"security_exception","reason":"action [cluster:admin/component_template/put] '
        'is unauthorized"},"status":401} (user elk-stack-setup)'
    ) in result.stderr, "the request, its status, Elasticsearch's reason and the user are logged"


def test_existing_data_streams_get_the_template_settings(fake_es: FakeElasticsearch) -> None:
    """A template shapes only later backing indices: replicas and policy must reach the write index."""
    assert run_setup(fake_es).returncode == 0
    assert fake_es.index_settings == {"logs-springboot-*,logs-myapp-*": SETTINGS}
    assert run_setup(fake_es, INDEX_SETTINGS=json.dumps({"index.number_of_replicas": 0})).returncode == 0
    assert fake_es.index_settings["logs-springboot-*,logs-myapp-*"] == {"index.number_of_replicas": 0}


def test_native_users_an_earlier_version_made_are_removed_and_nothing_else(
    fake_es: FakeElasticsearch,
) -> None:
    """Only users and roles carrying the stack's marker are deleted; a person's own never are."""
    fake_es.users["logstash-writer"] = {"roles": ["logstash-writer"], **LEGACY_MARK}
    fake_es.roles["logstash-writer"] = {"cluster": ["monitor"], **LEGACY_MARK}
    fake_es.users["alice"] = {"roles": ["logstash-writer"], "metadata": {"team": "ops"}}
    fake_es.users["bob"] = {"roles": ["viewer"]}
    fake_es.users["carol"] = {"roles": ["viewer"], "metadata": {"managed_by": "someone-else"}}
    fake_es.roles["viewer"] = {"cluster": []}
    result = run_setup(fake_es)
    assert result.returncode == 0, result.stderr
    assert sorted(fake_es.users) == ["alice", "bob", "carol"]
    assert sorted(fake_es.roles) == ["viewer"]
    assert ("DELETE", "/_security/user/logstash-writer") in [(m, path) for m, path, _, _ in fake_es.calls]
    assert (
        "deleting user logstash-writer" in result.stdout and "deleting role logstash-writer" in result.stdout
    )


@pytest.mark.slow
def test_a_hanging_health_request_is_cut_off(fake_es: FakeElasticsearch) -> None:
    """curl's --max-time bounds each attempt as docs/security.md says, whatever the server does."""
    documented = re.search(r"each at most (\d+) seconds", (PROJECT_DIR / "docs" / "security.md").read_text())
    assert documented, "docs/security.md states how long one attempt may take"
    fake_es.health_delay = 30
    started = time.monotonic()
    result = run_setup(fake_es, WAIT_ATTEMPTS="1")
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert "did not become ready after 1 attempts" in result.stderr
    assert int(documented.group(1)) - 1 < elapsed < int(documented.group(1)) + 3


def test_setup_fails_when_elasticsearch_is_unreachable(fake_es: FakeElasticsearch) -> None:
    result = run_setup(fake_es, ES_URL="http://127.0.0.1:9", WAIT_ATTEMPTS="2")
    assert result.returncode == 1
    assert "did not become ready after 2 attempts" in result.stderr


def test_passwords_never_reach_a_command_line() -> None:
    texts = [path.read_text() for path in (SCRIPT, RESTORE_SCRIPT, SNAPSHOT_SCRIPT, CLIENT_LIBRARY)]
    assert not [t for t in texts if "-u " in t or "--user " in t]
    library = CLIENT_LIBRARY.read_text()
    assert "-K <(printf" in library and "--data-binary @<(printf" in library, "every request: es()"
    assert not [t for t in texts if "curl " in t and t != library], "no script calls curl but the library"


def test_a_rejected_password_fails_at_once_instead_of_waiting(fake_es: FakeElasticsearch) -> None:
    fake_es.refuse = "/_cluster/health"
    result = run_setup(fake_es, WAIT_ATTEMPTS="50")
    assert result.returncode == 1
    assert "refused the elk-stack-setup user's password (HTTP 401)" in result.stderr
    assert len(fake_es.calls) == 1


def test_a_missing_privilege_fails_at_once_instead_of_waiting(fake_es: FakeElasticsearch) -> None:
    """A 403 while waiting for the cluster is a role without `monitor`: no retry can fix it."""
    fake_es.refuse = "/_cluster/health"
    fake_es.refusal_status = 403
    fake_es.refusal_reason = "action [cluster:monitor/health] is unauthorized for user [elk-stack-setup]"
    result = run_setup(fake_es, WAIT_ATTEMPTS="50")
    assert result.returncode == 1
    assert "refuses it this request (HTTP 403)" in result.stderr
    assert "is unauthorized for user [elk-stack-setup]" in result.stderr, "Elasticsearch's answer is logged"
    assert len(fake_es.calls) == 1


def test_setup_installs_retention(fake_es: FakeElasticsearch) -> None:
    assert run_setup(fake_es).returncode == 0
    assert fake_es.policies == {"elk-stack-logs": POLICY}
    assert fake_es.component_templates["elk-stack-logs@custom"] == COMPONENT
    assert fake_es.templates == {"elk-stack-logs": TEMPLATE}


def test_the_rendered_templates_install_into_a_cluster_with_elastics_built_ins(
    fake_es: FakeElasticsearch, rendered_stacks: dict[str, Rendered]
) -> None:
    """The bodies the Job sends, in its order: the index template only composes what exists by then."""
    env = job_env(rendered_stacks["qa"])
    names = ("COMPONENT_TEMPLATE_NAME", "COMPONENT_TEMPLATE", "INDEX_TEMPLATE_NAME", "INDEX_TEMPLATE")
    result = run_setup(fake_es, **{name: env[name] for name in names})
    assert result.returncode == 0, result.stderr
    assert fake_es.templates["elk-stack-logs"]["composed_of"][-1] == "elk-stack-logs@custom"
    del fake_es.component_templates["ecs@mappings"]  # a cluster without Elastic's built-ins
    result = run_setup(fake_es, **{name: env[name] for name in names})
    assert result.returncode != 0
    assert "specifies component templates ['ecs@mappings'] that do not exist" in result.stderr


def test_setup_without_security_installs_only_retention(fake_es: FakeElasticsearch) -> None:
    result = run_setup(fake_es, SETUP_USERNAME=None, SETUP_PASSWORD="")
    assert result.returncode == 0, result.stderr
    assert [path for _, path, _, _ in fake_es.calls] == [
        "/_cluster/health?wait_for_status=yellow&timeout=5s",
        "/_ilm/policy/elk-stack-logs",
        "/_component_template/elk-stack-logs@custom",
        "/_index_template/elk-stack-logs",
        "/logs-springboot-*,logs-myapp-*/_settings?allow_no_indices=true&ignore_unavailable=true",
        "/_slm/policy/elk-stack-snapshots",
        "/_snapshot/elk-stack",
    ]
    assert {auth for _, _, auth, _ in fake_es.calls} == {""}, "no credentials are sent"
    assert not fake_es.users
