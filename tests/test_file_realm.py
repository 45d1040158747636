"""Internal users in the file realm: no API call, `elastic`'s password change least, can break them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml
from pulumi.runtime import MockResourceArgs

import tools.render as render_module
from components.configuration import Snapshots
from components.configuration.security import INTERNAL_USERS
from components.generated import PasswordHashProvider, crypto
from components.resources.elasticsearch import FILE_REALM_DIR, START_SCRIPT
from components.specs import file_realm
from tests.conftest import STACKS, find, flat_config, problems
from tools.render import Rendered, run_program, stack_config

HASH_TYPE = "pulumi-python:dynamic/elk-stack:PasswordHash"


# --- the hashes -------------------------------------------------------------------


def test_hashes_are_bcrypt_in_the_revision_elasticsearch_reads() -> None:
    """Elasticsearch's BCrypt (jBCrypt) accepts `$2a$` only; bcrypt's default is `$2b$`."""
    first, second = crypto.bcrypt_hash("s3cret-password"), crypto.bcrypt_hash("s3cret-password")
    assert first.startswith("$2a$10$") and len(first) == 60
    assert bcrypt.checkpw(b"s3cret-password", first.encode())
    assert not bcrypt.checkpw(b"another-password", first.encode())
    assert first != second, "salted: two hashes of one password differ"


def test_a_hash_is_made_once_and_replaced_only_with_its_password() -> None:
    provider = PasswordHashProvider()
    olds = provider.create({"password": "p" * 32}).outs or {}
    assert bcrypt.checkpw(b"p" * 32, olds["hash"].encode())
    assert not provider.diff("id", olds, {"password": "p" * 32}).changes, "no new salt on every up"
    diff = provider.diff("id", olds, {"password": "q" * 32})
    assert diff.changes and diff.replaces == ["password"]


@pytest.mark.parametrize(("password", "refused"), [("x" * 72, False), ("x" * 73, True), ("", True)])
def test_bcrypt_never_silently_cuts_a_password(password: str, refused: bool) -> None:
    failures = PasswordHashProvider().check({}, {"password": password}).failures
    assert bool(failures) is refused


# --- the files --------------------------------------------------------------------


def test_the_files_have_elasticsearchs_formats() -> None:
    assert file_realm.users_file({"b-user": "$2a$10$bbb", "a-user": "$2a$10$aaa"}) == (
        "a-user:$2a$10$aaa\nb-user:$2a$10$bbb\n"
    )
    assignments = {"probe": "monitor_role", "setup": "setup_role", "other": "monitor_role"}
    assert file_realm.users_roles_file(assignments) == "monitor_role:other,probe\nsetup_role:setup\n"
    roles = file_realm.roles("writer", ["logs-*-*"], ["logs-app-*"])
    assert yaml.safe_load(file_realm.roles_file(roles)) == {
        "elk_stack_probe": {"cluster": ["monitor"]},
        "elk_stack_setup": {
            "cluster": [
                "monitor",
                "manage",
                "manage_ilm",
                "manage_index_templates",
                "manage_slm",
                "create_snapshot",
                "manage_security",
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


# --- the wiring -------------------------------------------------------------------


def pod_templates(rendered: Rendered) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{m['kind']}/{m['metadata']['name']}", m["spec"]["template"]["spec"])
        for m in rendered.manifests
        if m["kind"] in ("StatefulSet", "Deployment", "Job")
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_nodes_see_elastics_password_and_only_to_bootstrap_it(
    rendered_stacks: dict[str, Rendered], stack: str
) -> None:
    """No probe, Job or client logs in as `elastic`: its Secret feeds ELASTIC_PASSWORD, nothing else."""
    rendered = rendered_stacks[stack]
    readers = []
    for where, spec in pod_templates(rendered):
        for volume in spec.get("volumes", []):
            if volume.get("secret", {}).get("secretName") == "elk-elastic-credentials":
                readers.append((where, "volume", volume["name"]))
        for container in spec["containers"] + spec.get("initContainers", []):
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef", {})
                if ref.get("name") == "elk-elastic-credentials":
                    readers.append((where, container["name"], entry["name"]))
            for source in container.get("envFrom", []):
                assert source.get("secretRef", {}).get("name") != "elk-elastic-credentials", where
    nodes = [m["metadata"]["name"] for m in rendered.manifests if m["kind"] == "StatefulSet"]
    expected = [
        (f"StatefulSet/{name}", "elasticsearch", "ELASTIC_PASSWORD")
        for name in nodes
        if name.startswith("elk-elasticsearch")
    ]
    assert readers and sorted(readers) == sorted(expected)


@pytest.mark.parametrize("stack", STACKS)
def test_nodes_mount_the_file_realm_and_probe_as_the_probe_user(
    rendered_stacks: dict[str, Rendered], stack: str
) -> None:
    for where, spec in pod_templates(rendered_stacks[stack]):
        if not where.startswith("StatefulSet/elk-elasticsearch"):
            continue
        (container,) = spec["containers"]
        env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
        assert env["FILE_REALM_DIR"] == FILE_REALM_DIR
        assert env["PROBE_USERNAME"] == {"secretKeyRef": {"name": "elk-probe-credentials", "key": "username"}}
        assert env["PROBE_PASSWORD"] == {"secretKeyRef": {"name": "elk-probe-credentials", "key": "password"}}
        volume = next(v for v in spec["volumes"] if v["name"] == "file-realm")
        assert volume["secret"]["secretName"] == "elk-elasticsearch-file-realm"
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == "file-realm"]
        # No subPath: the kubelet updates the files in place and Elasticsearch re-reads them.
        assert mount == {"name": "file-realm", "mountPath": FILE_REALM_DIR, "readOnly": True}


def test_start_script_links_the_realm_files_over_the_images_own(tmp_path: Path) -> None:
    """Links, not copies: a Secret update reaches the running node without a restart."""
    config, realm = tmp_path / "config", tmp_path / "realm"
    config.mkdir()
    realm.mkdir()
    for name in file_realm.FILES:
        (config / name).write_text("# the image's empty file\n")
        (realm / name).write_text(f"first {name}\n")
    entrypoint = tmp_path / "entrypoint.sh"
    entrypoint.write_text("#!/usr/bin/env bash\necho started\n")
    entrypoint.chmod(0o755)
    environment = {
        "PATH": os.environ["PATH"],
        "HOSTNAME": "elk-elasticsearch-0",
        "FORMED_MARKER": str(tmp_path / "formed"),
        "ES_ENTRYPOINT": str(entrypoint),
        "ES_PATH_CONF": str(config),
        "FILE_REALM_DIR": str(realm),
    }
    for _ in range(2):  # a container restart finds its links in place
        result = subprocess.run(
            ["bash", str(START_SCRIPT)], env=environment, capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "started"
    for name in file_realm.FILES:
        assert (config / name).is_symlink()
        assert (config / name).read_text() == f"first {name}\n"
        (realm / name).write_text(f"second {name}\n")
        assert (config / name).read_text() == f"second {name}\n"


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
