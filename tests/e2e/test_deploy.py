"""The qa stack on the real engine: preview, up, no perpetual diff, no drift, a truthful render.

The tests run in file order against one deployment, as a user would run the commands.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.specs import common
from components.specs import kibana as kibana_spec
from tests.e2e.conftest import (
    Cluster,
    Stack,
    condition,
    is_job_pod,
    is_program_resource,
    name,
    record_figure,
    resource_type,
    stack_from_file,
)

NAMESPACE = "elk-e2e-qa"
INVALID_NAMESPACE = "elk-e2e-invalid"
PROTECTED_DEFAULT = False


@pytest.fixture(scope="module")
def qa(cluster: Cluster) -> Stack:
    kubeconfig = cluster.namespace(NAMESPACE)
    return stack_from_file(cluster, "e2e-qa", "Pulumi.qa.yaml", NAMESPACE, kubeconfig)


@pytest.fixture(scope="module")
def deployed(qa: Stack) -> Stack:
    """qa after one successful `pulumi up` (the test of `up` itself is below)."""
    qa.pulumi("preview")
    qa.pulumi("up", "--yes", "--skip-preview")
    return qa


@pytest.mark.claim("`make preview` works on a new stack, against a real API server")
def test_preview_of_a_new_stack_succeeds(qa: Stack) -> None:
    result = qa.pulumi("preview")
    assert "+ " in result.stdout or "create" in result.stdout


@pytest.mark.claim(
    "`make up` as a namespace-only user: every object the render lists exists, every pod Ready, "
    "the setup Job Complete, every claim Bound"
)
def test_up_creates_every_rendered_object_ready(deployed: Stack, cluster: Cluster) -> None:
    kubeconfig = deployed.kubeconfig
    rendered = load_manifests(deployed.render())
    for manifest in rendered:
        live = live_object(cluster, manifest, kubeconfig)
        assert live["metadata"]["uid"], manifest["metadata"]["name"]
    pods = cluster.get_json("pods", "-n", deployed.namespace, kubeconfig=kubeconfig)["items"]
    running = [p for p in pods if not is_job_pod(p)]
    assert running, "no pods"
    assert [name(p) for p in running if not condition(p, "Ready")] == []
    jobs = cluster.get_json("jobs", "-n", deployed.namespace, kubeconfig=kubeconfig)["items"]
    assert jobs and [name(j) for j in jobs if not condition(j, "Complete")] == []
    claims = cluster.get_json("pvc", "-n", deployed.namespace, kubeconfig=kubeconfig)["items"]
    assert claims and [name(c) for c in claims if c["status"].get("phase") != "Bound"] == []
    resources = [r for r in deployed.state()["deployment"]["resources"] if is_program_resource(r)]
    record_figure(
        f"qa: pulumi preview {deployed.timings['preview']:.1f} s, pulumi up {deployed.timings['up']:.1f} s, "
        f"{len(resources)} resources ({len(rendered)} Kubernetes objects)"
    )


@pytest.mark.claim("No perpetual diff: `pulumi preview --expect-no-changes` right after `up`")
def test_no_changes_right_after_up(deployed: Stack) -> None:
    deployed.pulumi("preview", "--expect-no-changes")


@pytest.mark.claim("No drift: `pulumi refresh --expect-no-changes` right after `up`")
def test_refresh_finds_no_drift(deployed: Stack) -> None:
    deployed.pulumi("refresh", "--yes", "--expect-no-changes")


@pytest.mark.claim("The offline render tells the truth: every field it sets is the live value")
def test_every_field_the_render_sets_is_live(deployed: Stack, cluster: Cluster) -> None:
    """The offline render tells the truth: the server may add defaults, never differ.

    Two kinds of values cannot be equal: Secret data, which the render redacts, and the
    digests of generated passwords and certificates, which the render computes over mock
    placeholders. Secrets are compared by their keys; the digests must be digests, and the
    CA's must be that of the CA the cluster really holds.
    """
    kubeconfig = deployed.kubeconfig
    differences: list[str] = []
    ca_checksum = live_ca_checksum(cluster, deployed)
    for manifest in load_manifests(deployed.render()):
        live = live_object(cluster, manifest, kubeconfig)
        where = f"{manifest['kind']}/{manifest['metadata']['name']}"
        if manifest["kind"] == "Secret":
            differences += secret_differences(manifest, live, where)
            manifest = {k: v for k, v in manifest.items() if k != "data"}
        differences += generated_digest_differences(manifest, live, where, ca_checksum)
        differences += subset_differences(manifest, live, where)
    assert differences == []


@pytest.mark.claim("`protect` and `retainOnDelete` in resources.json are the engine's own")
def test_resource_options_in_the_render_match_the_engine_state(deployed: Stack) -> None:
    rendered = json.loads((deployed.render() / "resources.json").read_text())
    state = {
        (resource_type(r["urn"]), r["urn"].split("::")[-1]): r
        for r in deployed.state()["deployment"]["resources"]
    }
    mismatches = []
    for record in rendered:
        live = state.get((record["type"], record["name"]))
        assert live is not None, f"{record['type']} {record['name']} is not in the engine's state"
        for option in ("protect", "retainOnDelete"):
            expected = bool(record[option]) if record[option] is not None else PROTECTED_DEFAULT
            if bool(live.get(option, False)) != expected:
                mismatches.append(f"{record['name']}.{option}: render {expected}, state {live.get(option)}")
    assert mismatches == []
    assert any(r["protect"] for r in rendered), "qa protects its data claims"


@pytest.mark.claim("Bad config: `pulumi preview` and `up` fail with the render's message, nothing deployed")
def test_invalid_config_is_refused_with_the_render_message(cluster: Cluster) -> None:
    kubeconfig = cluster.namespace(INVALID_NAMESPACE)
    stack = stack_from_file(
        cluster,
        "e2e-invalid",
        "Pulumi.qa.yaml",
        INVALID_NAMESPACE,
        kubeconfig,
        **{
            "elk-stack:elasticsearch": {
                "heap": "8g",
                "resources": {"limits": {"memory": "4Gi"}},
                "storag": {"size": "1Gi"},
            }
        },
    )
    render_error = render_failure(stack)
    for command in (["preview"], ["up", "--yes", "--skip-preview"]):
        result = stack.pulumi(*command, check=False)
        assert result.returncode != 0, command
        output = result.stdout + result.stderr
        for line in render_error.splitlines():
            assert line.strip() in output, (command, line)
        assert "Traceback" not in output
    left = cluster.kubectl(
        "get",
        "all,configmaps,secrets,pvc,networkpolicies,ingresses",
        "-n",
        INVALID_NAMESPACE,
        "-o",
        "name",
        kubeconfig=kubeconfig,
    )
    ours = [line for line in left.splitlines() if "kube-root-ca.crt" not in line]
    assert ours == []


# --- helpers ------------------------------------------------------------------------


def load_manifests(directory: Path) -> list[dict[str, Any]]:
    return [yaml.safe_load(path.read_text()) for path in sorted(directory.glob("*.yaml"))]


def live_object(cluster: Cluster, manifest: dict[str, Any], kubeconfig: Path) -> dict[str, Any]:
    metadata = manifest["metadata"]
    kind = f"{manifest['kind'].lower()}.{manifest['apiVersion'].split('/')[0]}"
    if "/" not in manifest["apiVersion"]:
        kind = manifest["kind"].lower()
    args = [kind, metadata["name"]]
    if metadata.get("namespace"):
        args += ["-n", metadata["namespace"]]
    return cluster.get_json(*args, kubeconfig=kubeconfig)  # type: ignore[no-any-return]


def subset_differences(expected: Any, live: Any, where: str) -> list[str]:
    """Where `live` lacks or contradicts a value of `expected`; `None` means unset."""
    if expected is None:
        return []
    if isinstance(expected, dict):
        if not isinstance(live, dict):
            return [f"{where}: expected a mapping, live has {live!r}"]
        return [
            difference
            for key, value in expected.items()
            for difference in subset_differences(value, live.get(key), f"{where}.{key}")
        ]
    if isinstance(expected, list):
        if not isinstance(live, list) or len(live) != len(expected):
            return [f"{where}: expected {len(expected)} items, live has {live!r}"]
        return [
            difference
            for index, (item, live_item) in enumerate(zip(expected, live, strict=True))
            for difference in subset_differences(item, live_item, f"{where}[{index}]")
        ]
    if expected != live:
        return [f"{where}: render {expected!r}, live {live!r}"]
    return []


def secret_differences(manifest: dict[str, Any], live: dict[str, Any], where: str) -> list[str]:
    """The render writes placeholders (never base64), so a Secret's keys are compared, and none is empty."""
    rendered_keys = set(manifest.get("data", {}))
    live_data = live.get("data", {})
    differences = []
    if rendered_keys != set(live_data):
        differences.append(f"{where}: keys {sorted(rendered_keys)} rendered, {sorted(live_data)} live")
    differences += [f"{where}: {key} is empty" for key, v in live_data.items() if not base64.b64decode(v)]
    return differences


def live_ca_checksum(cluster: Cluster, stack: Stack) -> str:
    """The digest of the CA certificate in the live CA Secret, as pod templates should carry it."""
    secret = cluster.get_json("secret", "elk-elasticsearch-ca", "-n", stack.namespace)
    return common.digest(base64.b64decode(secret["data"]["ca.crt"]).decode())


def generated_digest_differences(
    manifest: dict[str, Any], live: dict[str, Any], where: str, ca_checksum: str
) -> list[str]:
    """Check, then drop from `manifest`, the pod-template digests of generated material."""
    annotations = manifest.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations", {})
    live_annotations = live.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations", {})
    differences = []
    for key in (
        common.CA_CHECKSUM_ANNOTATION,
        common.CREDENTIALS_ANNOTATION,
        kibana_spec.SERVER_CERT_ANNOTATION,
    ):
        if key not in annotations:
            continue
        annotations.pop(key)
        value = live_annotations.get(key, "")
        if not re.fullmatch(r"[0-9a-f]{64}", value):
            differences.append(f"{where}: pod template annotation {key} is {value!r}, not a digest")
    live_ca = live_annotations.get(common.CA_CHECKSUM_ANNOTATION)
    if live_ca is not None and live_ca != ca_checksum:
        differences.append(f"{where}: {common.CA_CHECKSUM_ANNOTATION} is not the digest of the live CA")
    return differences


def render_failure(stack: Stack) -> str:
    """The render's one error message for the stack's config."""
    result = stack.run_render()
    assert result.returncode != 0, "the render accepted the invalid config"
    return result.stderr.strip().removeprefix("error: ")
