"""Data protection on the real engine: a refused destroy, retained claims, redeploys that adopt them.

The scenarios run in file order against one namespace, as a user would type the commands:
the qa stack is deployed, destroyed the way docs/operations.md's "Data protection" documents, and
deployed again, first as the same stack and then as a brand-new one. The last scenario
deploys a stack that creates its own namespace, as a cluster admin. Every assertion is on
the live cluster (UIDs, PV bindings), or on the engine's own state, never on Pulumi's
output alone.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    PROJECT_DIR,
    Cluster,
    Stack,
    claims,
    object_uids,
    run_tool,
    stack_from_file,
    uids,
    wait_until,
)

NAMESPACE = "elk-e2e-protect"
CREATED_NAMESPACE = "elk-e2e-protect-created"
CLAIM_TYPE = "kubernetes:core/v1:PersistentVolumeClaim"
NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"
DATA_CLAIMS = {"data-elk-elasticsearch-0", "queue-elk-logstash-0"}
# docs/operations.md documents the commands for the qa stack.
DOCUMENTED_STACK = "qa"


def make_destroy(stack: Stack) -> subprocess.CompletedProcess[str]:
    """What `make destroy STACK=<stack> ARGS=--yes` runs."""
    return run_tool("destroy", stack, "--yes")


@pytest.fixture(scope="module")
def kubeconfig(cluster: Cluster) -> Path:
    return cluster.namespace(NAMESPACE)


@pytest.fixture(scope="module")
def protected(cluster: Cluster, kubeconfig: Path) -> Stack:
    """The qa stack's config in its own namespace, deployed as that namespace's user."""
    stack = stack_from_file(cluster, "e2e-protect", "Pulumi.qa.yaml", NAMESPACE, kubeconfig)
    stack.pulumi("up", "--yes", "--skip-preview")
    return stack


@pytest.fixture(scope="module")
def successor(cluster: Cluster, kubeconfig: Path) -> Stack:
    """A brand-new stack with the same config, in the same namespace (created, not deployed)."""
    return stack_from_file(cluster, "e2e-protect-successor", "Pulumi.qa.yaml", NAMESPACE, kubeconfig)


@pytest.mark.claim(
    "Data protection: `pulumi destroy` refuses to run while a claim is protected; after "
    "`pulumi state unprotect` of each claim, `pulumi destroy` removes the rest and the claims "
    "leave the state but stay in the cluster"
)
def test_destroy_is_refused_then_the_claims_are_retained(protected: Stack, cluster: Cluster) -> None:
    before = object_uids(cluster, NAMESPACE)
    bindings = bound_claims(cluster, NAMESPACE)
    assert set(bindings) == DATA_CLAIMS
    resources_before = protected.state()["deployment"]["resources"]
    urns = {claim["urn"] for claim in claim_resources(protected).values()}

    refused = make_destroy(protected)
    assert refused.returncode != 0, "pulumi destroy ran although the claims are protected"
    output = refused.stdout + refused.stderr
    assert "because it is protected" in output
    hint = output[output.index("make destroy: pulumi destroy stopped at") :]
    assert "docs/operations.md#data-protection" in hint, hint
    for urn in urns:
        assert f"pulumi state unprotect --stack {protected.name} '{urn}'" in hint, hint
    assert object_uids(cluster, NAMESPACE) == before
    assert protected.state()["deployment"]["resources"] == resources_before

    unprotect_as_documented(protected)
    protected.pulumi("destroy", "--yes")

    wait_until(lambda: not uids(cluster, "pods", NAMESPACE), "the stack's pods to be gone")
    retained = {f"persistentvolumeclaims/{name}": uid for name, (uid, _) in bindings.items()}
    assert object_uids(cluster, NAMESPACE) == retained
    assert bound_claims(cluster, NAMESPACE) == bindings
    assert protected.state()["deployment"].get("resources", []) == []


@pytest.mark.claim(
    "Why: a redeploy lost the log data; here the claims are protected Pulumi resources: "
    "`pulumi up` after the destroy, of the same stack or a brand-new one, adopts the retained "
    "claims (same UIDs, same PVs), mounts them and protects them again"
)
def test_a_redeploy_keeps_the_data(protected: Stack, successor: Stack, cluster: Cluster) -> None:
    bindings = bound_claims(cluster, NAMESPACE)
    assert set(bindings) == DATA_CLAIMS, "the previous scenario leaves the claims retained"

    protected.pulumi("up", "--yes", "--skip-preview")
    assert bound_claims(cluster, NAMESPACE) == bindings
    assert_adopted(protected, cluster, bindings)
    protected.pulumi("preview", "--expect-no-changes")

    # Leave the claims behind again, the documented way, and start over with a new stack.
    unprotect_as_documented(protected)
    protected.pulumi("destroy", "--yes")
    wait_until(lambda: not uids(cluster, "pods", NAMESPACE), "the stack's pods to be gone")
    assert bound_claims(cluster, NAMESPACE) == bindings

    successor.pulumi("up", "--yes", "--skip-preview")
    assert bound_claims(cluster, NAMESPACE) == bindings
    assert_adopted(successor, cluster, bindings)
    successor.pulumi("preview", "--expect-no-changes")


@pytest.mark.claim(
    "Why: every claim is an explicit PVC that grows in place; also a claim that a redeploy "
    "adopted (How to grow a volume: the explicit PVCs are patched in place); a smaller size is "
    "refused by `preview` in the stack file's words"
)
def test_an_adopted_claim_still_grows_in_place(successor: Stack, cluster: Cluster) -> None:
    bindings = bound_claims(cluster, NAMESPACE)
    claim = "data-elk-elasticsearch-0"
    assert claims(cluster, NAMESPACE)[claim][2] == "20Gi"
    elasticsearch = dict(successor.config["elk-stack:elasticsearch"])
    elasticsearch["storage"] = {**elasticsearch["storage"], "size": "25Gi"}
    successor.set_config("elk-stack:elasticsearch", elasticsearch)

    successor.pulumi("up", "--yes", "--skip-preview")

    wait_until(lambda: claims(cluster, NAMESPACE)[claim][2] == "25Gi", f"{claim} to report 25Gi")
    live = cluster.get_json("pvc", claim, "-n", NAMESPACE)
    assert live["spec"]["resources"]["requests"]["storage"] == "25Gi"
    assert bound_claims(cluster, NAMESPACE) == bindings

    # Back to 20Gi: `preview` says in the stack file's words that a claim cannot shrink.
    successor.set_config(
        "elk-stack:elasticsearch", {**elasticsearch, "storage": {**elasticsearch["storage"], "size": "20Gi"}}
    )
    refused = successor.pulumi("preview", check=False)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert f"storage.size would shrink {claim} from 25Gi to 20Gi" in output, output
    assert "Kubernetes cannot make a claim smaller" in output
    successor.set_config("elk-stack:elasticsearch", elasticsearch)
    successor.pulumi("preview", "--expect-no-changes")


@pytest.mark.claim(
    "Data protection, with `createNamespace: true`: `pulumi destroy` never deletes the namespace "
    "while it holds data; after the documented unprotect step it leaves the namespace and the "
    "claims in it, and the next `pulumi up` adopts both"
)
def test_a_created_namespace_is_never_destroyed_with_its_data(cluster: Cluster) -> None:
    admin = Path(cluster.env["KUBECONFIG"])
    existing = [item["metadata"]["name"] for item in cluster.get_json("namespaces")["items"]]
    assert CREATED_NAMESPACE not in existing, "the namespace must not exist yet"
    stack = stack_from_file(
        cluster,
        "e2e-protect-created",
        "Pulumi.qa.yaml",
        CREATED_NAMESPACE,
        admin,
        **{"elk-stack:createNamespace": True},
    )
    stack.pulumi("up", "--yes", "--skip-preview")
    namespace = live_namespace(cluster)
    assert namespace["metadata"]["labels"]["app.kubernetes.io/part-of"] == "elk-stack"
    namespace_uid = namespace["metadata"]["uid"]
    before = object_uids(cluster, CREATED_NAMESPACE)
    bindings = bound_claims(cluster, CREATED_NAMESPACE)
    assert set(bindings) == DATA_CLAIMS

    refused = stack.pulumi("destroy", "--yes", check=False)
    assert refused.returncode != 0, "pulumi destroy ran although the claims are protected"
    assert "because it is protected" in refused.stdout + refused.stderr
    assert live_namespace(cluster)["metadata"]["uid"] == namespace_uid
    assert object_uids(cluster, CREATED_NAMESPACE) == before

    unprotect_as_documented(stack)
    stack.pulumi("destroy", "--yes")

    namespace = live_namespace(cluster)
    assert namespace["metadata"]["uid"] == namespace_uid
    assert "deletionTimestamp" not in namespace["metadata"]
    assert namespace["status"]["phase"] == "Active"
    wait_until(lambda: not uids(cluster, "pods", CREATED_NAMESPACE), "the stack's pods to be gone")
    retained = {f"persistentvolumeclaims/{name}": uid for name, (uid, _) in bindings.items()}
    assert object_uids(cluster, CREATED_NAMESPACE) == retained
    assert bound_claims(cluster, CREATED_NAMESPACE) == bindings

    stack.pulumi("up", "--yes", "--skip-preview")
    assert live_namespace(cluster)["metadata"]["uid"] == namespace_uid
    assert bound_claims(cluster, CREATED_NAMESPACE) == bindings
    assert_adopted(stack, cluster, bindings)
    [record] = [r for r in stack.state()["deployment"]["resources"] if r["type"] == NAMESPACE_TYPE]
    assert record.get("retainOnDelete") is True


# --- helpers ------------------------------------------------------------------------


def bound_claims(cluster: Cluster, namespace: str) -> dict[str, tuple[str, str]]:
    """Every claim in `namespace`, name to (UID, PV); each must be Bound, and its PV bound to it."""
    bindings = {}
    for claim in cluster.get_json("pvc", "-n", namespace)["items"]:
        name, uid = claim["metadata"]["name"], claim["metadata"]["uid"]
        assert claim["status"].get("phase") == "Bound", f"{name} is {claim['status'].get('phase')}"
        volume = cluster.get_json("pv", claim["spec"]["volumeName"])
        assert volume["status"]["phase"] == "Bound", f"{name}'s PV is {volume['status']['phase']}"
        assert volume["spec"]["claimRef"]["uid"] == uid, f"{name}'s PV is bound to another claim"
        bindings[name] = (uid, claim["spec"]["volumeName"])
    return bindings


def claim_resources(stack: Stack) -> dict[str, dict[str, Any]]:
    """The claims in the engine's state, by their Kubernetes name."""
    resources = stack.state()["deployment"].get("resources", [])
    return {r["id"].split("/")[-1]: r for r in resources if r["type"] == CLAIM_TYPE}


def pod_claims(cluster: Cluster, namespace: str) -> dict[str, list[str]]:
    """Each pod's claims, by the names its volumes give."""
    return {
        pod["metadata"]["name"]: [
            volume["persistentVolumeClaim"]["claimName"]
            for volume in pod["spec"]["volumes"]
            if "persistentVolumeClaim" in volume
        ]
        for pod in cluster.get_json("pods", "-n", namespace)["items"]
    }


def assert_adopted(stack: Stack, cluster: Cluster, bindings: dict[str, tuple[str, str]]) -> None:
    """The stack's state holds the retained claims again, protected, and its pods mount them."""
    state = claim_resources(stack)
    assert set(state) == set(bindings)
    assert [name for name, r in state.items() if not (r.get("protect") and r.get("retainOnDelete"))] == []
    mounted = pod_claims(cluster, stack.namespace)
    assert mounted.get("elk-elasticsearch-0") == ["data-elk-elasticsearch-0"]
    assert mounted.get("elk-logstash-0") == ["queue-elk-logstash-0"]


def live_namespace(cluster: Cluster) -> dict[str, Any]:
    return cluster.get_json("namespace", CREATED_NAMESPACE)  # type: ignore[no-any-return]


def documented_unprotect_urns() -> list[str]:
    """The claim URNs in docs/operations.md's "Data protection" commands, for the qa stack."""
    section = (PROJECT_DIR / "docs" / "operations.md").read_text().split("\n## Data protection\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    urns = []
    for line in section.splitlines():
        if not line.startswith("pulumi state unprotect "):
            continue
        argv = shlex.split(line, comments=True)
        assert argv[3:5] == ["--stack", DOCUMENTED_STACK], line
        [urn] = argv[5:]
        urns.append(urn)
    return urns


def unprotect_as_documented(stack: Stack) -> None:
    """The documented unprotect step, on `stack`: the docs' command for each claim URN in the state.

    The URNs must be the documented ones, with the stack's name in place of qa's.
    """
    state_urns = sorted(claim["urn"] for claim in claim_resources(stack).values())
    documented = sorted(
        urn.replace(f"urn:pulumi:{DOCUMENTED_STACK}::", f"urn:pulumi:{stack.name}::", 1)
        for urn in documented_unprotect_urns()
    )
    assert state_urns == documented
    for urn in state_urns:
        stack.pulumi("state", "unprotect", urn)
    assert [name for name, r in claim_resources(stack).items() if r.get("protect")] == []
