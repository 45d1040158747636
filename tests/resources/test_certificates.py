"""One key and certificate per Elasticsearch node, and warnings before any certificate expires."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from cryptography import x509

import tools.render as render_module
from components.generated import crypto
from tests.clusters import (
    DATA,
    EXAMPLE,
    MASTERS,
    NAMESPACE,
    container,
    es_statefulsets,
    node_sets,
    pod_names,
)
from tests.conftest import find, flat_config
from tools.render import Rendered, run_program

Render = Callable[..., Rendered]
Manifest = dict[str, Any]
LEAF = "pulumi-python:dynamic/elk-stack:LeafCertificate"
CA = "pulumi-python:dynamic/elk-stack:CertificateAuthority"
OLD_SHARED_SECRET = "elk-elasticsearch-certs"


def show(**sections: Any) -> Rendered:
    """A render with Secret values shown (the offline render's stand-ins for generated values)."""
    return run_program(flat_config(**sections), stack="unit", show_secrets=True)


def certs_secret(rendered: Rendered, statefulset: Manifest) -> Manifest:
    """The Secret a node set's pods mount as their certificates."""
    volumes = {v["name"]: v for v in statefulset["spec"]["template"]["spec"]["volumes"]}
    return find(rendered.manifests, "Secret", volumes["certs"]["secret"]["secretName"])


def leaf_inputs(rendered: Rendered, pod: str) -> dict[str, Any]:
    [record] = [
        r for r in rendered.resources if r["type"] == LEAF and r["name"] == f"elasticsearch-tls-{pod}"
    ]
    inputs: dict[str, Any] = record["inputs"]
    return inputs


def es_settings(rendered: Rendered, statefulset: Manifest) -> dict[str, Any]:
    volumes = {v["name"]: v for v in statefulset["spec"]["template"]["spec"]["volumes"]}
    config_map = find(rendered.manifests, "ConfigMap", volumes["config"]["configMap"]["name"])
    parsed: dict[str, Any] = yaml.safe_load(config_map["data"]["elasticsearch.yml"])
    return parsed


# --- one certificate per node -------------------------------------------------------


def test_each_node_set_secret_holds_one_pair_per_pod_and_the_ca() -> None:
    rendered = show(elasticsearch=EXAMPLE)
    statefulsets = es_statefulsets(rendered)
    assert len(statefulsets) == 2
    for statefulset in statefulsets:
        pods = pod_names(statefulset)
        data = certs_secret(rendered, statefulset)["stringData"]
        expected = {"ca.crt"} | {f"{pod}.tls.crt" for pod in pods} | {f"{pod}.tls.key" for pod in pods}
        assert set(data) == expected
        keys = [data[f"{pod}.tls.key"] for pod in pods]
        assert len(set(keys)) == len(pods), "every pod has a key of its own"
        for pod in pods:
            # Each pod's pair is its own certificate resource's, not another pod's.
            assert data[f"{pod}.tls.crt"] == render_module._placeholder(
                "certificate", f"elasticsearch-tls-{pod}"
            )
            assert data[f"{pod}.tls.key"] == render_module._placeholder(
                "private-key", f"elasticsearch-tls-{pod}"
            )


def test_each_certificate_names_its_own_pod_and_no_other(rendered_example: Rendered) -> None:
    rendered = rendered_example
    every_pod = [pod for statefulset in es_statefulsets(rendered) for pod in pod_names(statefulset)]
    assert len(every_pod) == 5
    for statefulset in es_statefulsets(rendered):
        headless = statefulset["spec"]["serviceName"]
        for pod in pod_names(statefulset):
            inputs = leaf_inputs(rendered, pod)
            names = inputs["dns_names"]
            assert inputs["common_name"] == pod
            assert f"{pod}.{headless}.{NAMESPACE}.svc" in names
            assert f"{pod}.{headless}.{NAMESPACE}.svc.cluster.local" in names
            assert f"elk-elasticsearch.{NAMESPACE}.svc" in names
            assert f"{headless}.{NAMESPACE}.svc" in names
            assert "localhost" in names and inputs["ip_addresses"] == ["127.0.0.1"]
            others = [other for other in every_pod if other != pod]
            assert [n for n in names if any(n.startswith(f"{other}.") for other in others)] == []


def test_nodes_find_their_own_files_through_the_pod_name(rendered_example: Rendered) -> None:
    rendered = rendered_example
    for statefulset in es_statefulsets(rendered):
        settings = es_settings(rendered, statefulset)
        for layer in ("transport", "http"):
            assert settings[f"xpack.security.{layer}.ssl.certificate"] == "certs/${POD_NAME}.tls.crt"
            assert settings[f"xpack.security.{layer}.ssl.key"] == "certs/${POD_NAME}.tls.key"
            assert settings[f"xpack.security.{layer}.ssl.certificate_authorities"] == ["certs/ca.crt"]
        env = {e["name"]: e for e in container(statefulset)["env"]}
        assert env["POD_NAME"] == {
            "name": "POD_NAME",
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
        }


@pytest.mark.parametrize(("before", "after"), [(2, 3), (3, 2)], ids=["scale-out", "scale-in"])
def test_scaling_changes_only_the_secret_and_rolls_no_pod(before: int, after: int) -> None:
    """The pod template names the Secret, never a pod's files: existing pods keep running."""
    old = show(elasticsearch=node_sets(MASTERS, {**DATA, "replicas": before}))
    new = show(elasticsearch=node_sets(MASTERS, {**DATA, "replicas": after}))
    for old_set, new_set in zip(es_statefulsets(old), es_statefulsets(new), strict=True):
        assert old_set["spec"]["template"] == new_set["spec"]["template"]
    data = find(new.manifests, "StatefulSet", "elk-elasticsearch-data")
    pods = pod_names(data)
    assert set(certs_secret(new, data)["stringData"]) == {"ca.crt"} | {
        f"{pod}.{suffix}" for pod in pods for suffix in ("tls.crt", "tls.key")
    }
    # The pods that stay keep their certificates: same inputs, so no replacement.
    for pod in pod_names(find(old.manifests, "StatefulSet", "elk-elasticsearch-data"))[: min(before, after)]:
        assert leaf_inputs(old, pod) == leaf_inputs(new, pod)
    assert len([r for r in new.resources if r["type"] == LEAF]) == 3 + after + 1, "and Kibana's own"


def test_the_new_secrets_do_not_take_the_old_shared_secrets_name(render: Render) -> None:
    """An update from the shared certificate creates the new Secrets before it deletes the old one."""
    for elasticsearch in ({}, EXAMPLE):
        rendered = render(elasticsearch=elasticsearch)
        secrets = [m["metadata"]["name"] for m in rendered.manifests if m["kind"] == "Secret"]
        assert OLD_SHARED_SECRET not in secrets
        for statefulset in es_statefulsets(rendered):
            assert certs_secret(rendered, statefulset)["metadata"]["name"] != OLD_SHARED_SECRET


def test_an_existing_secret_is_shared_by_every_node(render: Render) -> None:
    """`tls.existingSecret` holds one `tls.crt`/`tls.key` for all nodes: no pod name in the paths."""
    rendered = render(elasticsearch={**EXAMPLE, "tls": {"existingSecret": "company-pki"}})
    for statefulset in es_statefulsets(rendered):
        volumes = {v["name"]: v for v in statefulset["spec"]["template"]["spec"]["volumes"]}
        assert volumes["certs"]["secret"]["secretName"] == "company-pki"
        settings = es_settings(rendered, statefulset)
        assert settings["xpack.security.transport.ssl.certificate"] == "certs/tls.crt"
        assert settings["xpack.security.transport.ssl.key"] == "certs/tls.key"
        assert "POD_NAME" not in {e["name"] for e in container(statefulset)["env"]}
    assert not [r for r in rendered.resources if r["type"] in (LEAF, CA)]


# --- expiry warnings in a render ----------------------------------------------------


def real_certificate(days_left: float, validity_days: int = 365) -> str:
    """A certificate (self-signed: only its dates matter here) that expires `days_left` from now."""
    now = datetime.now(UTC)
    key = crypto.rsa_private_key_pem(2048)
    issued = now + timedelta(days=days_left - validity_days)
    return crypto.ca_certificate_pem(
        key, common_name="test", organization="elk-stack", validity_hours=validity_days * 24, now=issued
    )


@pytest.fixture
def stored_certificates(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Renders as a preview of an existing stack sees them: real certificates, by resource name."""
    original = render_module.EchoMocks.new_resource
    stored: dict[str, str] = {}

    def with_certificates(self: render_module.EchoMocks, args: Any) -> tuple[str | None, dict[Any, Any]]:
        resource_id, state = original(self, args)
        if args.name in stored:
            state = {**state, "cert_pem": stored[args.name]}
        return resource_id, state

    monkeypatch.setattr(render_module.EchoMocks, "new_resource", with_certificates)
    return stored


def certificate_warnings(rendered: Rendered) -> list[str]:
    return [w for w in rendered.warnings if w.startswith("certificate ")]


def test_a_render_warns_of_a_node_certificate_close_to_expiry(
    render: Render, stored_certificates: dict[str, str]
) -> None:
    """A 7-day renewal window: 20 days left is outside it, but within the 30 days that warn."""
    stored_certificates["elasticsearch-tls-elk-elasticsearch-data-1"] = real_certificate(20)
    stored_certificates["elasticsearch-tls-elk-elasticsearch-data-0"] = real_certificate(200)
    stored_certificates["elasticsearch-tls-ca"] = real_certificate(3000, validity_days=3650)
    rendered = render(elasticsearch={**EXAMPLE, "tls": {"earlyRenewalDays": 7}})
    [warning] = certificate_warnings(rendered)
    expires = x509.load_pem_x509_certificate(
        stored_certificates["elasticsearch-tls-elk-elasticsearch-data-1"].encode()
    ).not_valid_after_utc
    assert warning.startswith(
        f"certificate elk-elasticsearch-data-1 expires on {expires:%Y-%m-%d %H:%M} UTC, within 30 days"
    )


def test_a_render_warns_of_a_ca_inside_its_renewal_window(
    render: Render, stored_certificates: dict[str, str]
) -> None:
    """The CA renews 300 days (ten node windows) before it expires."""
    stored_certificates["elasticsearch-tls-ca"] = real_certificate(250, validity_days=3650)
    [warning] = certificate_warnings(render())
    assert warning.startswith("certificate elk-stack CA expires on ")
    assert "renewal window" in warning and "the next `pulumi up` replaces it" in warning


def test_a_render_asks_for_a_ca_rotation_before_the_cas_renewal_window(
    render: Render, stored_certificates: dict[str, str]
) -> None:
    """60 days before the window opens: time for the three steps, which a renewal would skip."""
    stored_certificates["elasticsearch-tls-ca"] = real_certificate(360, validity_days=3650)
    [warning] = certificate_warnings(render())
    assert warning.startswith("certificate elk-stack CA expires on ")
    assert "rotate it in three steps before then" in warning and "docs/security.md#rotating-the-ca" in warning


def test_a_node_certificate_before_its_window_gets_no_rotation_notice(
    render: Render, stored_certificates: dict[str, str]
) -> None:
    """Node certificates are renewed under the same CA: nothing to rotate."""
    stored_certificates["elasticsearch-tls-elk-elasticsearch-data-0"] = real_certificate(50)
    stored_certificates["elasticsearch-tls-ca"] = real_certificate(3000, validity_days=3650)
    assert certificate_warnings(render(elasticsearch=EXAMPLE)) == []


def test_a_plain_render_has_no_certificate_warning(rendered_stacks: dict[str, Rendered]) -> None:
    """The render's stand-ins are no certificates: nothing to warn of, and nothing depends on the clock."""
    for rendered in rendered_stacks.values():
        assert certificate_warnings(rendered) == []


def test_each_statefulset_waits_for_its_secret_by_name_not_by_its_outputs(rendered_example: Rendered) -> None:
    """A changed Secret is replaced (deleted first); a StatefulSet using its outputs would be replaced too.

    So the pod template holds the name as a literal and the StatefulSet depends on the
    Secret only for ordering (`make e2e` shows a scale-out replaces no pod).
    """
    rendered = rendered_example
    for statefulset in es_statefulsets(rendered):
        name = statefulset["metadata"]["name"]
        secret = certs_secret(rendered, statefulset)["metadata"]["name"]
        assert secret == f"{name}-node-certs"
        [record] = [
            r
            for r in rendered.resources
            if r["type"] == "kubernetes:apps/v1:StatefulSet"
            and r["name"] == f"elasticsearch-{name.split('-')[-1]}"
        ]
        assert f"kubernetes:core/v1:Secret::elasticsearch-tls-{name}" in record["dependsOn"]


def test_the_nodes_secrets_wait_for_the_deploy_record_and_the_ca_secret_does_not(
    rendered_example: Rendered,
) -> None:
    """A refused shrink must not take certificates from running pods; the snapshot Job needs the CA first."""
    record = "pulumi-python:dynamic/elk-stack-lifecycle:DeployRecord::elasticsearch-record"
    secrets = {
        r["name"]: r["dependsOn"]
        for r in rendered_example.resources
        if r["type"] == "kubernetes:core/v1:Secret"
    }
    node_secrets = {name for name in secrets if name.startswith("elasticsearch-tls-elk-elasticsearch")}
    assert node_secrets == {
        "elasticsearch-tls-elk-elasticsearch-master",
        "elasticsearch-tls-elk-elasticsearch-data",
    }
    assert all(record in secrets[name] for name in node_secrets)
    assert record not in secrets["elasticsearch-tls-ca"]
