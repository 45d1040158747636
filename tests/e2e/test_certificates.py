"""Per-node certificates on the real engine: from one shared certificate, a scale-out, a CA rotation.

The update starts from the last commit with one certificate for all nodes, checked out
of this repository's history into the scratch project, so it is what an existing stack
runs into. kwok runs no container: this shows what Kubernetes holds (Secrets, the pod
template, which pods were replaced), not that Elasticsearch loads the files.
"""

from __future__ import annotations

import base64
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from components.generated import crypto
from components.specs.common import CA_CHECKSUM_ANNOTATION
from tests.e2e.conftest import (
    E2E_DIR,
    PROJECT_DIR,
    Cluster,
    Stack,
    _tail,
    claims,
    pod_uids,
    stack_from_file,
    wait_until,
)
from tests.readers import common_names, issuer_name
from tools.e2e.layout import PROJECT_ENTRIES

# The last commit whose nodes share one certificate in `elk-elasticsearch-certs`.
SHARED_CERTIFICATE_COMMIT = "caa050e"
NAMESPACE = "elk-e2e-certs"
OLD_SECRET = "elk-elasticsearch-certs"
NODE_SECRET = "elk-elasticsearch-node-certs"
CA_SECRET = "elk-elasticsearch-ca"


def checkout(commit: str) -> Path:
    """The program's files as of `commit`, from git, next to the scratch projects."""
    target = E2E_DIR / "checkouts" / commit
    target.mkdir(parents=True, exist_ok=True)
    entries = [entry for entry in PROJECT_ENTRIES if entry != ".venv"]
    archive = subprocess.run(
        ["git", "archive", commit, *entries], cwd=PROJECT_DIR, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def link_project(stack: Stack, source: Path) -> None:
    """Point the scratch project's program files at `source` (the virtualenv stays the project's)."""
    for entry in PROJECT_ENTRIES:
        if entry == ".venv":
            continue
        link = stack.project / entry
        link.unlink()
        link.symlink_to(source / entry)


def secret_data(cluster: Cluster, name: str, namespace: str = NAMESPACE) -> dict[str, str]:
    """A Secret's values, decoded; {} when it does not exist."""
    found: dict[str, Any] = cluster.get_json(
        "secrets", "-n", namespace, "--field-selector", f"metadata.name={name}"
    )
    if not found["items"]:
        return {}
    return {key: base64.b64decode(value).decode() for key, value in found["items"][0]["data"].items()}


def kibana_annotation(cluster: Cluster, key: str) -> str:
    """An annotation of Kibana's pod template, as the API server holds it."""
    deployment = cluster.get_json("deployment", "elk-kibana", "-n", NAMESPACE)
    value: str = deployment["spec"]["template"]["metadata"]["annotations"][key]
    return value


def es_pods_ready(cluster: Cluster, count: int) -> bool:
    pods = cluster.get_json("pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/name=elasticsearch")["items"]
    return len(pods) == count and all(
        any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))
        for pod in pods
    )


@pytest.mark.claim(
    "An update from one shared certificate moves every node to its own, keeps the CA, deletes "
    "the old Secret and changes no client's CA; a later scale-out adds a certificate and "
    "replaces no running pod; `pulumi preview` names a certificate inside its renewal window, "
    "and `pulumi up` renews it without restarting a pod"
)
def test_an_update_from_the_shared_certificate_then_a_scale_out_then_a_renewal(cluster: Cluster) -> None:
    stack = stack_from_file(cluster, "e2e-certs", "Pulumi.qa.yaml", NAMESPACE, cluster.namespace(NAMESPACE))
    link_project(stack, checkout(SHARED_CERTIFICATE_COMMIT))
    stack.pulumi("up", "--yes", "--skip-preview")
    old = secret_data(cluster, OLD_SECRET)
    assert {"ca.crt", "tls.crt", "tls.key"} <= old.keys(), "the old layout is what this starts from"
    ca = secret_data(cluster, CA_SECRET)["ca.crt"]
    before = {component: pod_uids(cluster, NAMESPACE, component) for component in ("elasticsearch", "kibana")}
    kibana_ca = kibana_annotation(cluster, CA_CHECKSUM_ANNOTATION)

    link_project(stack, PROJECT_DIR)
    stack.pulumi("up", "--yes", "--skip-preview")
    wait_until(lambda: es_pods_ready(cluster, 1), "the Elasticsearch pod Ready")
    assert secret_data(cluster, OLD_SECRET) == {}, "the shared Secret is deleted"
    node = secret_data(cluster, NODE_SECRET)
    assert set(node) == {"ca.crt", "elk-elasticsearch-0.tls.crt", "elk-elasticsearch-0.tls.key"}
    assert node["ca.crt"] == ca == old["ca.crt"], "the CA stays, so old and new nodes trust each other"
    assert secret_data(cluster, CA_SECRET)["ca.crt"] == ca
    after = {component: pod_uids(cluster, NAMESPACE, component) for component in ("elasticsearch", "kibana")}
    assert after["elasticsearch"].keys() == before["elasticsearch"].keys()
    assert after["elasticsearch"] != before["elasticsearch"], "the node restarts with its own files"
    # Kibana does roll in this update, for another reason: it moves from the built-in
    # kibana_system to its own file-realm user, a new credentials revision.
    assert kibana_annotation(cluster, CA_CHECKSUM_ANNOTATION) == kibana_ca, "the CA did not change"
    stack.pulumi("preview", "--expect-no-changes")

    template = cluster.get_json("statefulset", "elk-elasticsearch", "-n", NAMESPACE)["spec"]["template"]
    stack.set_config("elk-stack:elasticsearch", {**stack.config["elk-stack:elasticsearch"], "replicas": 3})
    assert {op for op, urn in stack.planned_operations() if urn.endswith("StatefulSet::elasticsearch")} == {
        "update"
    }, "the StatefulSet is updated (replicas), never replaced with its pods"
    stack.pulumi("up", "--yes", "--skip-preview")
    grown_template = cluster.get_json("statefulset", "elk-elasticsearch", "-n", NAMESPACE)["spec"]["template"]
    assert grown_template == template, "the pod template is unchanged"
    wait_until(lambda: es_pods_ready(cluster, 3), "three Elasticsearch pods Ready")
    grown = pod_uids(cluster, NAMESPACE, "elasticsearch")
    assert grown["elk-elasticsearch-0"] == after["elasticsearch"]["elk-elasticsearch-0"], "pod 0 kept running"
    node_after = secret_data(cluster, NODE_SECRET)
    assert set(node_after) == {"ca.crt"} | {
        f"elk-elasticsearch-{i}.{suffix}" for i in range(3) for suffix in ("tls.crt", "tls.key")
    }
    assert node_after["elk-elasticsearch-0.tls.key"] == node["elk-elasticsearch-0.tls.key"], (
        "pod 0 keeps its key"
    )
    stack.pulumi("preview", "--expect-no-changes")
    warnings_then_renewal(cluster, stack)


def expiring_certificate(days_left: float) -> str:
    """A certificate (self-signed: only its dates matter here) that expires `days_left` from now."""
    validity_days = 365
    issued = datetime.now(UTC) + timedelta(days=days_left - validity_days)
    return crypto.ca_certificate_pem(
        crypto.rsa_private_key_pem(2048),
        common_name="stand-in",
        organization="elk-stack",
        validity_hours=validity_days * 24,
        now=issued,
    )


def store_certificates(stack: Stack, certificates: dict[str, str]) -> None:
    """Put certificates into the stack's state, by LeafCertificate name: as if issued long ago."""
    state = stack.state()
    for resource in state["deployment"]["resources"]:
        name = resource["urn"].rsplit("::", 1)[-1]
        if resource["type"].endswith("LeafCertificate") and name in certificates:
            resource["outputs"]["cert_pem"] = certificates.pop(name)
    assert certificates == {}, f"no such certificates in the state: {sorted(certificates)}"
    path = stack.project / "tampered-state.json"
    path.write_text(json.dumps(state))
    stack.pulumi("stack", "import", "--file", str(path))


def warnings_then_renewal(cluster: Cluster, stack: Stack) -> None:
    """`pulumi preview` names a certificate inside its renewal window; `pulumi up` renews it without a roll.

    10 days left is inside the 30-day window: the preview plans its replacement, so the
    program cannot see it and the provider's stderr line is what the user reads. The
    program's own warning (within 30 days, outside a shorter window) is shown by the
    render tests.
    """
    store_certificates(stack, {"elasticsearch-tls-elk-elasticsearch-1": expiring_certificate(10)})
    preview = stack.pulumi("preview")
    output = preview.stdout + preview.stderr
    assert "certificate elk-elasticsearch-1 expires on " in output, _tail(output)
    assert "inside its renewal window" in output and "the next `pulumi up` replaces it" in output
    pods = pod_uids(cluster, NAMESPACE, "elasticsearch")
    stack.pulumi("up", "--yes", "--skip-preview")
    renewed = secret_data(cluster, NODE_SECRET)["elk-elasticsearch-1.tls.crt"]
    expires = x509.load_pem_x509_certificate(renewed.encode()).not_valid_after_utc
    assert expires > datetime.now(UTC) + timedelta(days=300), "a new certificate, for a full year"
    assert pod_uids(cluster, NAMESPACE, "elasticsearch") == pods, "Elasticsearch reloads it: no pod restarts"
    stack.pulumi("preview", "--expect-no-changes")


ROTATION_NAMESPACE = "elk-e2e-ca-rotation"
ROTATION_ANNOTATION = "elk-stack/ca-rotation"


@pytest.mark.claim(
    "The CA rotates in three `pulumi up`s (trust the new CA, sign with it, drop the old one): "
    "each step updates the Secrets and rolls the nodes, replaces no Kubernetes object but Jobs, and "
    "leaves `pulumi preview` with nothing to do"
)
def test_the_ca_rotates_in_three_steps(cluster: Cluster) -> None:
    kubeconfig = cluster.namespace(ROTATION_NAMESPACE)
    stack = stack_from_file(cluster, "e2e-ca-rotation", "Pulumi.qa.yaml", ROTATION_NAMESPACE, kubeconfig)
    stack.pulumi("up", "--yes", "--skip-preview")
    claims_before = claims(cluster, ROTATION_NAMESPACE)
    expected: list[tuple[dict[str, Any], list[str], str, str]] = [
        (
            {"caGeneration": 1, "caRotation": "trust"},
            ["elk-stack CA", "elk-stack CA 1"],
            "elk-stack CA",
            "1-trust",
        ),
        (
            {"caGeneration": 1, "caRotation": "switch"},
            ["elk-stack CA", "elk-stack CA 1"],
            "elk-stack CA 1",
            "1-switch",
        ),
        ({"caGeneration": 1}, ["elk-stack CA 1"], "elk-stack CA 1", "1"),
    ]
    section: dict[str, Any] = stack.config["elk-stack:elasticsearch"]
    for tls, trusted, signer, stage in expected:
        pods = pod_uids(cluster, ROTATION_NAMESPACE, "elasticsearch")
        stack.set_config("elk-stack:elasticsearch", {**section, "tls": {**section.get("tls", {}), **tls}})
        replaced = [urn for op, urn in stack.planned_operations() if op in ("replace", "create-replacement")]
        # Jobs are replaced whenever their pod template changes (they are immutable), and the
        # template of each Job that calls Elasticsearch carries the CA's checksum: it runs again.
        kept = [urn for urn in replaced if "kubernetes:" in urn and "kubernetes:batch/v1:Job" not in urn]
        assert kept == [], f"{stage}: {replaced}"
        stack.pulumi("up", "--yes", "--skip-preview")
        node = secret_data(cluster, NODE_SECRET, ROTATION_NAMESPACE)
        assert common_names(node["ca.crt"]) == trusted, stage
        assert common_names(secret_data(cluster, CA_SECRET, ROTATION_NAMESPACE)["ca.crt"]) == trusted, stage
        assert issuer_name(node["elk-elasticsearch-0.tls.crt"]) == signer, stage
        template = cluster.get_json("statefulset", "elk-elasticsearch", "-n", ROTATION_NAMESPACE)["spec"][
            "template"
        ]
        assert template["metadata"]["annotations"][ROTATION_ANNOTATION] == stage
        rolled = pod_uids(cluster, ROTATION_NAMESPACE, "elasticsearch")
        assert rolled.keys() == pods.keys() and rolled != pods, f"{stage}: the node rolled (up awaits it)"
        stack.pulumi("preview", "--expect-no-changes")
    assert claims(cluster, ROTATION_NAMESPACE) == claims_before, "every claim kept, on its volume"
