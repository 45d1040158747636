"""Every secured render yields users who can log in and do their jobs on a real node."""

from __future__ import annotations

import pytest
import yaml

from tools.real_es.stack import RealStack

CREDENTIALS = ("probe", "setup", "logstash", "kibana")


@pytest.fixture
def stack(secured: RealStack) -> RealStack:
    return secured


def roles_file(stack: RealStack) -> dict[str, dict[str, object]]:
    roles: dict[str, dict[str, object]] = yaml.safe_load(
        stack.secret("elk-elasticsearch-file-realm")["roles.yml"]
    )
    return roles


def test_the_node_reads_every_role_in_roles_yml(stack: RealStack) -> None:
    """Elasticsearch's own reader is the judge: it logs how many roles it parsed, and any it refused."""
    log = stack.running["elk-elasticsearch-0"].log.read_text()
    assert "invalid role definition" not in log
    assert f"parsed [{len(roles_file(stack))}] roles from file" in log


def test_the_node_runs_on_a_read_only_root_and_writes_into_its_volumes(stack: RealStack) -> None:
    """The image's files are mounted read-only; the keystore lands in the config copy, the GC log in logs."""
    node = stack.running["elk-elasticsearch-0"]
    assert node.container.read_only_root
    volumes = node.directory / "volumes"
    assert (volumes / "config-copy" / "elasticsearch.keystore").is_file()
    assert (volumes / "config-copy" / "certs").is_symlink()
    assert (volumes / "logs" / "gc.log").is_file()
    touch = node.exec(["touch", "/usr/share/elasticsearch/config/probe-write"])
    assert touch.returncode != 0 and "Read-only file system" in touch.stderr


@pytest.mark.parametrize("user", CREDENTIALS)
def test_each_internal_user_logs_in_with_its_rendered_password(stack: RealStack, user: str) -> None:
    secret = f"elk-{user}-credentials"
    answer = stack.request("GET", "/_security/_authenticate", user=secret)
    assert answer.status == 200, answer.text
    assert answer.body["username"] == stack.secret(secret)["username"]
    assert answer.body["authentication_realm"]["type"] == "file"


def test_elastic_logs_in_with_its_rendered_password(stack: RealStack) -> None:
    answer = stack.request("GET", "/_security/_authenticate")
    assert answer.status == 200, answer.text
    assert answer.body["username"] == "elastic"


@pytest.mark.parametrize("user", ("probe", "setup", "logstash"))
def test_each_users_privileges_are_exactly_its_role(stack: RealStack, user: str) -> None:
    """`GET _security/user/_privileges` as the user: what the node grants is what roles.yml says."""
    secret = stack.secret(f"elk-{user}-credentials")
    role_name = next(
        line.split(":")[0]
        for line in stack.secret("elk-elasticsearch-file-realm")["users_roles"].splitlines()
        if secret["username"] in line.split(":")[1].split(",")
    )
    role = roles_file(stack)[role_name]
    answer = stack.request("GET", "/_security/user/_privileges", user=f"elk-{user}-credentials")
    assert answer.status == 200, answer.text
    assert sorted(answer.body["cluster"]) == sorted(role["cluster"])  # type: ignore[call-overload]
    granted = sorted((sorted(i["names"]), sorted(i["privileges"])) for i in answer.body["indices"])
    declared = sorted((sorted(i["names"]), sorted(i["privileges"])) for i in role.get("indices", []))  # type: ignore[attr-defined]
    assert granted == declared


def test_kibanas_user_has_kibana_system(stack: RealStack) -> None:
    answer = stack.request("GET", "/_security/_authenticate", user="elk-kibana-credentials")
    assert answer.status == 200, answer.text
    assert answer.body["roles"] == ["kibana_system"]


def test_the_setup_user_can_clean_up_but_never_create_users_or_grant_roles(stack: RealStack) -> None:
    """Its security rights find and delete the stack's old native users and roles, nothing more."""
    asked = {
        "cluster": [
            "manage_security",
            "cluster:admin/xpack/security/user/put",
            "cluster:admin/xpack/security/role/put",
            "cluster:admin/xpack/security/user/delete",
            "cluster:admin/xpack/security/role/get",
        ]
    }
    answer = stack.request("POST", "/_security/user/_has_privileges", asked, user="elk-setup-credentials")
    assert answer.status == 200, answer.text
    assert answer.body["cluster"] == {
        "manage_security": False,
        "cluster:admin/xpack/security/user/put": False,
        "cluster:admin/xpack/security/role/put": False,
        "cluster:admin/xpack/security/user/delete": True,
        "cluster:admin/xpack/security/role/get": True,
    }
