"""Internal users in the file realm: no API call, `elastic`'s password change least, can break them.

The files have Elasticsearch's formats, the roles follow the config, and every internal
user's Secret logs in through them.
"""

from __future__ import annotations

from typing import Any

import bcrypt
import pytest
import yaml
from pulumi.runtime import MockResourceArgs

import tools.render as render_module
from components.configuration import Snapshots
from components.configuration.security import INTERNAL_USERS
from components.generated import crypto
from components.specs import file_realm
from tests.conftest import STACKS, find, flat_config, problems
from tools.render import run_program, stack_config

HASH_TYPE = "pulumi-python:dynamic/elk-stack:PasswordHash"


def test_the_files_have_elasticsearchs_formats() -> None:
    assert file_realm.users_file({"b-user": "$2a$10$bbb", "a-user": "$2a$10$aaa"}) == (
        "a-user:$2a$10$aaa\nb-user:$2a$10$bbb\n"
    )
    assignments = {"probe": "monitor_role", "setup": "setup_role", "other": "monitor_role"}
    assert file_realm.users_roles_file(assignments) == "monitor_role:other,probe\nsetup_role:setup\n"
    roles = file_realm.roles("writer", ["logs-*-*"], ["logs-app-*"])
    assert yaml.safe_load(file_realm.roles_file(roles)) == {
        "elk_stack_probe": {
            "cluster": [
                "monitor",
                "cluster:admin/settings/update",
                "cluster:admin/shutdown/create",
                "cluster:admin/shutdown/get",
                "cluster:admin/shutdown/delete",
            ],
            "indices": [{"names": ["*"], "privileges": ["indices:admin/flush*"]}],
        },
        "elk_stack_setup": {
            "cluster": [
                "monitor",
                "manage",
                "manage_ilm",
                "manage_index_templates",
                "manage_slm",
                "create_snapshot",
                "cluster:admin/xpack/security/user/get",
                "cluster:admin/xpack/security/user/delete",
                "cluster:admin/xpack/security/role/get",
                "cluster:admin/xpack/security/role/delete",
            ],
            "indices": [{"names": ["logs-app-*"], "privileges": ["manage"]}],
        },
        "writer": {
            "cluster": ["monitor"],
            "indices": [{"names": ["logs-*-*"], "privileges": ["create_doc", "auto_configure"]}],
        },
    }


def real_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the render's mocks hash for real, as the provider does, instead of a placeholder."""
    echo = render_module.EchoMocks.new_resource

    def new_resource(self: Any, args: MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        resource_id, state = echo(self, args)
        if args.typ == HASH_TYPE:
            password = args.inputs["password"]  # a secret arrives wrapped
            state["hash"] = crypto.bcrypt_hash(password["value"] if isinstance(password, dict) else password)
        return resource_id, state

    monkeypatch.setattr(render_module.EchoMocks, "new_resource", new_resource)


@pytest.mark.parametrize("stack", STACKS)
def test_each_internal_users_secret_logs_in_through_the_file_realm(
    monkeypatch: pytest.MonkeyPatch, stack: str
) -> None:
    """The password each client reads from its Secret verifies against the nodes' `users` file."""
    real_hashes(monkeypatch)
    rendered = run_program(stack_config(stack), stack=stack, show_secrets=True)
    realm = find(rendered.manifests, "Secret", "elk-elasticsearch-file-realm")["stringData"]
    hashes = dict(line.split(":", 1) for line in realm["users"].splitlines())
    logins = {}
    for secret in ("probe", "setup", "kibana", "logstash"):
        data = find(rendered.manifests, "Secret", f"elk-{secret}-credentials")["stringData"]
        logins[data["username"]] = data["password"]
    assert sorted(hashes) == sorted(logins), "one line per internal user, nobody else"
    assert "elastic" not in hashes, "`elastic` stays in the native realm, for people"
    for user, password in logins.items():
        assert bcrypt.checkpw(password.encode(), hashes[user].encode()), user
    roles = dict(line.split(":") for line in realm["users_roles"].splitlines())
    assert roles == {
        "elk_stack_probe": "elk-stack-probe",
        "elk_stack_setup": "elk-stack-setup",
        "kibana_system": "elk-stack-kibana",
        "logstash-writer": "logstash-writer",
    }


def test_roles_follow_the_config() -> None:
    """The Logstash role writes only the configured patterns; setup manages the retained streams."""
    revealed = run_program(
        flat_config(
            security={"logstashUser": "shipper", "logstashIndices": ["logs-a-*"]},
            elasticsearch={"retention": {"dataStreams": ["logs-a-*", "logs-b-*"]}},
        ),
        stack="unit",
        show_secrets=True,
    )
    realm = find(revealed.manifests, "Secret", "elk-elasticsearch-file-realm")["stringData"]
    roles = yaml.safe_load(realm["roles.yml"])
    assert roles["shipper"]["indices"] == [
        {"names": ["logs-a-*"], "privileges": ["create_doc", "auto_configure"]}
    ]
    assert roles["elk_stack_setup"]["indices"] == [
        {"names": ["logs-a-*", "logs-b-*"], "privileges": ["manage"]}
    ]
    assert "shipper:" in realm["users"] and "shipper:shipper" in realm["users_roles"]


@pytest.mark.parametrize("user", file_realm.INTERNAL_USERS)
def test_logstash_cannot_take_an_internal_users_name(user: str) -> None:
    assert INTERNAL_USERS == file_realm.INTERNAL_USERS
    assert problems(security={"logstashUser": user}) == [
        f"security.logstashUser: {user!r} is one of this stack's internal users; Logstash needs a user "
        "of its own, e.g. logstash-writer"
    ]


S3 = {"type": "s3", "bucket": "elk-backups"}


def test_an_slm_policy_gets_the_setup_user_rights_on_every_index() -> None:
    """Writing a policy needs `manage` on the indices it covers, and SLM snapshots as its writer."""
    without = file_realm.setup_role(["logs-app-*"]).definition()
    snapshots = Snapshots.model_validate({"repository": S3})
    with_snapshots = file_realm.setup_role(["logs-app-*"], snapshots).definition()
    assert without["indices"] == [{"names": ["logs-app-*"], "privileges": ["manage"]}]
    assert with_snapshots["indices"] == [
        {"names": ["logs-app-*"], "privileges": ["manage"]},
        {"names": ["*"], "privileges": ["manage"]},
    ]
    assert "create_snapshot" in with_snapshots["cluster"] and "manage_slm" in with_snapshots["cluster"]


def test_a_restore_from_a_read_only_repository_may_see_every_index() -> None:
    """The restore first checks that the cluster holds no index: one it may not see would pass."""
    reader = Snapshots.model_validate({"repository": {**S3, "readonly": True}})
    restorer = Snapshots.model_validate(
        {"repository": {**S3, "readonly": True}, "restoreFrom": {"snapshot": "latest"}}
    )
    assert file_realm.setup_role(["logs-app-*"], reader).definition()["indices"] == [
        {"names": ["logs-app-*"], "privileges": ["manage"]}
    ]
    assert file_realm.setup_role(["logs-app-*"], restorer).definition()["indices"] == [
        {"names": ["logs-app-*"], "privileges": ["manage"]},
        {"names": ["*"], "privileges": ["view_index_metadata"]},
    ]
    # Restoring and recording it need `manage` (Elastic's restore API prerequisites).
    assert "manage" in file_realm.setup_role(["logs-app-*"], restorer).definition()["cluster"]
