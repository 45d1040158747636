"""How a Job of the stack reaches Elasticsearch: its endpoint, the password and the CA.

The setup Job and the snapshot Job before a change speak to the cluster the same way,
through `scripts/elasticsearch-setup.sh`'s `es` function; this builds what that function
reads, once, so both Jobs follow any change to how clients log in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi_kubernetes.core.v1 import ConfigMap, ServiceAccount

from components.resources import certificates, objects
from components.resources.credentials import PASSWORD_KEY, USERNAME_KEY, StackCredentials
from components.specs import common

CERTS_DIR = "/opt/elk-stack/certs"
SCRIPT_DIR = "/opt/elk-stack"
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "elasticsearch-setup.sh"
# Both Jobs run the setup script with curl: small and bounded, whatever Elasticsearch does.
SCRIPT_RESOURCES = {
    "requests": {"cpu": "50m", "memory": "64Mi"},
    "limits": {"cpu": "500m", "memory": "128Mi"},
}


@dataclass(frozen=True)
class ClusterAccess:
    """Where the cluster answers, and the CA that signs its HTTP certificate (with HTTPS)."""

    endpoint: pulumi.Input[str]
    https: bool
    ca_secret_name: pulumi.Input[str] | None
    ca_checksum: pulumi.Input[str] | None


def client_env(
    cluster: ClusterAccess,
    credentials: StackCredentials | None,
    volumes: list[dict[str, Any]],
    mounts: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """ES_URL, the setup user's name and password from its Secret and CA_CERT; adds the CA's volume."""
    env: list[dict[str, Any]] = [{"name": "ES_URL", "value": cluster.endpoint}]
    if credentials is not None:
        # Their own file-realm user (components/file_realm.py), never `elastic`.
        env += [
            common.secret_env("SETUP_USERNAME", credentials.setup_secret_name, USERNAME_KEY),
            common.secret_env("SETUP_PASSWORD", credentials.setup_secret_name, PASSWORD_KEY),
        ]
    if cluster.https and cluster.ca_secret_name is not None:
        ca_file = certificates.mount_ca(cluster.ca_secret_name, CERTS_DIR, volumes, mounts)
        env.append({"name": "CA_CERT", "value": ca_file})
    return env


def client_annotations(
    files: dict[str, str], cluster: ClusterAccess, credentials: StackCredentials | None
) -> dict[str, Any]:
    """Checksums that replace a client Job when its script, the CA it trusts or a password changes."""
    return common.pod_annotations(
        files,
        cluster.ca_checksum if cluster.https else None,
        credentials_revision=credentials.revisions["setup"] if credentials else None,
    )


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
    """
    volumes, mounts = storage
    container = {
        "name": container_name,
        "image": image,
        "command": ["bash", f"{SCRIPT_DIR}/{script}"],
        "env": env,
        "resources": SCRIPT_RESOURCES,
        "securityContext": common.container_security_context(read_only_root=True),
        "volumeMounts": mounts,
    }
    spec = common.pod_spec([container], volumes, target.pull_secrets, service_account)
    spec["restartPolicy"] = restart_policy
    return spec


@dataclass(frozen=True)
class ScriptObjects:
    """What a script Job needs beside itself: the script's ConfigMap and its ServiceAccount."""

    files: dict[str, str]
    config_map: ConfigMap
    account: ServiceAccount


def script_objects(
    parent: pulumi.Resource, name: str, names: common.Names, labels: dict[str, str], target: common.Target
) -> ScriptObjects:
    """The ConfigMap holding `scripts/elasticsearch-setup.sh` and the Job's own ServiceAccount."""
    files = {SCRIPT.name: SCRIPT.read_text()}
    config_map = ConfigMap(
        f"{name}-script",
        metadata=common.metadata(names.config, target.namespace, labels),
        data=files,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    account = objects.service_account(parent, f"{name}-account", names.workload, target.namespace, labels)
    return ScriptObjects(files, config_map, account)
