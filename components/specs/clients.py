"""How a client of Elasticsearch reaches it: the endpoint, the CA to trust, and its own login.

The setup Job, the snapshot Job before a change, Logstash and Kibana all reach the cluster
through the client Service. `ClusterAccess` holds what each needs, the login included, so
a builder takes one value instead of a credentials object and a condition; without
security it has no login and no CA.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

from components.specs import common
from components.specs.certificates import mount_ca
from components.specs.credentials import PASSWORD_KEY, USERNAME_KEY

CERTS_DIR = "/opt/elk-stack/certs"
SCRIPT_DIR = "/opt/elk-stack"
SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
# What each Job runs, and the library every one of them sources (flat in SCRIPT_DIR, as a
# ConfigMap projects its keys).
SETUP_SCRIPT = SCRIPTS / "elasticsearch-setup.sh"
RESTORE_SCRIPT = SCRIPTS / "elasticsearch-restore.sh"
SNAPSHOT_SCRIPT = SCRIPTS / "elasticsearch-snapshot.sh"
TOPOLOGY_SCRIPT = SCRIPTS / "elasticsearch-topology.sh"
CLIENT_LIBRARY = SCRIPTS / "lib" / "elasticsearch-client.sh"
# Both Jobs run the setup script with curl: small and bounded, whatever Elasticsearch does.
# They write nothing but their container log, on a read-only root.
SCRIPT_RESOURCES = {
    "requests": {"cpu": "50m", "memory": "64Mi", "ephemeral-storage": "16Mi"},
    "limits": {"cpu": "500m", "memory": "128Mi", "ephemeral-storage": "64Mi"},
}


@dataclass(frozen=True)
class ClusterAccess:
    """Where the cluster answers, the CA of its HTTP certificate (with HTTPS), and a client's login."""

    endpoint: pulumi.Input[str]
    https: bool
    ca_secret_name: pulumi.Input[str] | None
    ca_checksum: pulumi.Input[str] | None
    login_secret: str | None = None
    """The client's credentials Secret (`username`, `password`); none without security."""
    login_revision: pulumi.Input[str] | None = None
    """Changes with the client's password, so its pods roll."""

    def logged_in(self, secret: str | None, revision: pulumi.Input[str] | None) -> ClusterAccess:
        """The same access, for the client whose credentials are in `secret`."""
        return dataclasses.replace(self, login_secret=secret, login_revision=revision)

    @property
    def trusted_ca(self) -> pulumi.Input[str] | None:
        """The CA Secret a client mounts: only over HTTPS."""
        return self.ca_secret_name if self.https else None

    @property
    def ca_revision(self) -> pulumi.Input[str] | None:
        """What rolls a client when the CA it trusts changes; nothing over plain HTTP."""
        return self.ca_checksum if self.https else None

    def login_files(self, user_variable: str, password_variable: str) -> list[tuple[str, dict[str, str]]]:
        """The client's Secret with the file names (variables) its user name and password become.

        For `common.env_files`: none without security.
        """
        if self.login_secret is None:
            return []
        return [(self.login_secret, {USERNAME_KEY: user_variable, PASSWORD_KEY: password_variable})]

    def ca_env(
        self, variable: str, directory: str, volumes: list[dict[str, Any]], mounts: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Mount the CA in `directory` (HTTPS only) and name its file in `variable`."""
        if self.trusted_ca is None:
            return []
        return [{"name": variable, "value": mount_ca(self.trusted_ca, directory, volumes, mounts)}]


def client_env(
    access: ClusterAccess, volumes: list[dict[str, Any]], mounts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """ES_URL, the Job's own file-realm user (never `elastic`) as files, and CA_CERT; adds their volumes."""
    env: list[dict[str, Any]] = [{"name": "ES_URL", "value": access.endpoint}]
    login = access.login_files("SETUP_USERNAME", "SETUP_PASSWORD")
    if login:
        env.append(common.env_files(login, volumes, mounts))
    return env + access.ca_env("CA_CERT", CERTS_DIR, volumes, mounts)


def client_annotations(files: dict[str, str], access: ClusterAccess) -> dict[str, Any]:
    """Checksums that replace a client Job when its script, the CA it trusts or a password changes."""
    return common.pod_annotations(files, access.ca_revision, credentials_revision=access.login_revision)


def script_files(*scripts: Path) -> dict[str, str]:
    """A Job's ConfigMap data: its scripts and the client library they source, by file name."""
    return {path.name: path.read_text() for path in (*scripts, CLIENT_LIBRARY, common.ENV_FILES_SCRIPT)}


def script_pod_spec(
    container_name: str,
    image: str,
    script: str,
    env: list[dict[str, Any]],
    storage: tuple[list[dict[str, Any]], list[dict[str, Any]]],
    target: common.Target,
    service_account: str,
    restart_policy: str,
) -> dict[str, Any]:
    """A run-to-completion pod that runs `script` (mounted under SCRIPT_DIR) with bash.

    `storage` is the (volumes, mounts) pair, the script's ConfigMap and the CA included.
    With a login (ENV_FILES_DIR), scripts/env-from-files.sh reads it before the script runs.
    """
    volumes, mounts = storage
    command = ["bash", f"{SCRIPT_DIR}/{script}"]
    if any(entry["name"] == "ENV_FILES_DIR" for entry in env):
        command = common.with_env_files(SCRIPT_DIR, command)
    container = {
        "name": container_name,
        "image": image,
        "command": command,
        "env": env,
        "resources": SCRIPT_RESOURCES,
        "securityContext": common.container_security_context(),
        "volumeMounts": mounts,
    }
    spec = common.pod_spec([container], volumes, target, service_account)
    spec["restartPolicy"] = restart_policy
    return spec


def one_shot_pod_spec(
    container_name: str,
    image: str,
    script: str,
    names: common.Names,
    cluster: ClusterAccess,
    env: list[dict[str, Any]],
    target: common.Target,
) -> dict[str, Any]:
    """A pod run once per change: `script` from the component's ConfigMap, client-wired.

    The setup Job's client wiring with `env` on top, and restartPolicy Never (with the
    Job's one retry): a failure is reported, not retried for hours.
    """
    mounts: list[dict[str, Any]] = [{"name": "script", "mountPath": SCRIPT_DIR, "readOnly": True}]
    volumes: list[dict[str, Any]] = [{"name": "script", "configMap": {"name": names.config}}]
    wired = client_env(cluster, volumes, mounts) + env
    return script_pod_spec(
        container_name, image, script, wired, (volumes, mounts), target, names.workload, "Never"
    )
