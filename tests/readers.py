"""How tests read a render: settings files, a workload's container and env, resource records."""

from __future__ import annotations

from typing import Any

import yaml
from cryptography import x509

from tests.conftest import Manifest, find
from tools.render import Rendered

GENERATED_PREFIX = "pulumi-python:dynamic/elk-stack:"
PASSWORD_TYPE = f"{GENERATED_PREFIX}GeneratedPassword"
CA_TYPE = f"{GENERATED_PREFIX}CertificateAuthority"
LEAF_TYPE = f"{GENERATED_PREFIX}LeafCertificate"


def es_settings(rendered: Rendered) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(
        find(rendered.manifests, "ConfigMap", "elk-elasticsearch-config")["data"]["elasticsearch.yml"]
    )
    return data


def kibana_settings(rendered: Rendered) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(
        find(rendered.manifests, "ConfigMap", "elk-kibana-config")["data"]["kibana.yml"]
    )
    return data


def container(rendered: Rendered, kind: str, name: str) -> dict[str, Any]:
    containers: list[dict[str, Any]] = find(rendered.manifests, kind, name)["spec"]["template"]["spec"][
        "containers"
    ]
    return containers[0]


def env_of(rendered: Rendered, kind: str, name: str) -> dict[str, Any]:
    return {
        e["name"]: e.get("value", e.get("valueFrom")) for e in container(rendered, kind, name).get("env", [])
    }


def secret_ref(secret: str, key: str) -> dict[str, Any]:
    return {"secretKeyRef": {"name": secret, "key": key}}


def credential_files(pod_spec: dict[str, Any]) -> dict[str, Any]:
    """Variable -> `secret_ref` of each credential file the pod's ENV_FILES_DIR volume holds."""
    volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
    projected = volumes.get("env-files", {}).get("projected", {"sources": []})
    return {
        item["path"]: secret_ref(source["secret"]["name"], item["key"])
        for source in projected["sources"]
        for item in source["secret"]["items"]
    }


def without_login_files(command: list[str]) -> list[str]:
    """A node script's command without the env-from-files.sh prefix that reads its login first."""
    prefix = ["bash", "/opt/elk-stack/env-from-files.sh"]
    return command[len(prefix) :] if command[: len(prefix)] == prefix else command


def credentials_of(rendered: Rendered, kind: str, name: str) -> dict[str, Any]:
    """`credential_files` of a rendered workload's pod."""
    return credential_files(find(rendered.manifests, kind, name)["spec"]["template"]["spec"])


def record(rendered: Rendered, type_suffix: str, name: str) -> dict[str, Any]:
    """The resources.json record of a resource, by type (suffix) and logical name."""
    (match,) = [r for r in rendered.resources if r["type"].endswith(type_suffix) and r["name"] == name]
    return match


def job_env(rendered: Rendered) -> dict[str, str]:
    job = find(rendered.manifests, "Job", "elk-elasticsearch-setup")
    return {e["name"]: e.get("value", "") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}


def find_named(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    """The one manifest of a kind and name."""
    (found,) = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    return found


def pod(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    """The pod template of a workload, to mutate in place."""
    template: Manifest = find_named(manifests, kind, name)["spec"]["template"]
    return template


def common_names(pem: str) -> list[str]:
    """The subjects' common names of the certificates in a PEM file (a `ca.crt` bundle), in order."""
    return [
        str(certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)
        for certificate in x509.load_pem_x509_certificates(pem.encode())
    ]


def issuer_name(pem: str) -> str:
    """The common name of the CA that signed a certificate."""
    certificate = x509.load_pem_x509_certificate(pem.encode())
    return str(certificate.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)
