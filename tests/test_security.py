"""Secure by default: authentication, TLS, least-privilege users and stable secrets."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import STACKS, find
from tests.readers import (
    CA_TYPE,
    GENERATED_PREFIX,
    LEAF_TYPE,
    PASSWORD_TYPE,
    env_of,
    es_settings,
    kibana_settings,
    record,
    secret_ref,
)
from tools.render import PROJECT_DIR, REDACTED, Rendered, run_program, stack_config

Render = Callable[..., Rendered]


@pytest.fixture(scope="module")
def revealed() -> dict[str, Rendered]:
    """The stacks rendered with --show-secrets, to look inside Secrets."""
    return {stack: run_program(stack_config(stack), stack=stack, show_secrets=True) for stack in STACKS}


@pytest.mark.parametrize("stack", STACKS)
def test_elasticsearch_has_security_and_transport_tls(
    rendered_stacks: dict[str, Rendered], stack: str
) -> None:
    settings = es_settings(rendered_stacks[stack])
    assert settings["xpack.security.enabled"] is True
    assert settings["xpack.security.transport.ssl.enabled"] is True
    assert settings["xpack.security.transport.ssl.verification_mode"] == "certificate"
    assert settings["xpack.security.http.ssl.enabled"] is True
    assert settings["xpack.security.http.ssl.certificate_authorities"] == ["certs/ca.crt"]
    env = env_of(rendered_stacks[stack], "StatefulSet", "elk-elasticsearch")
    assert env["ELASTIC_PASSWORD"] == secret_ref("elk-elastic-credentials", "password")


@pytest.mark.parametrize("stack", STACKS)
def test_logstash_writes_as_its_own_user_and_verifies_the_ca(
    revealed: dict[str, Rendered], stack: str
) -> None:
    rendered = revealed[stack]
    pipeline = find(rendered.manifests, "ConfigMap", "elk-logstash-config")["data"]["main.conf"]
    output = pipeline[pipeline.index("output {") :]
    assert 'user => "${ELASTICSEARCH_USER}"' in output
    assert 'ssl_certificate_authorities => ["${ELASTICSEARCH_CA}"]' in output
    assert 'ssl_verification_mode => "full"' in output
    assert "elastic" not in re.findall(r'user => "(\w+)"', output)
    env = env_of(rendered, "StatefulSet", "elk-logstash")
    assert env["ELASTICSEARCH_USER"] == secret_ref("elk-logstash-credentials", "username")
    assert env["ELASTICSEARCH_PASSWORD"] == secret_ref("elk-logstash-credentials", "password")
    assert env["ELASTICSEARCH_CA"] == "/usr/share/logstash/config/certs/ca.crt"
    assert env["ELASTICSEARCH_HOSTS"].startswith("https://")
    logstash_secret = find(rendered.manifests, "Secret", "elk-logstash-credentials")
    assert logstash_secret["stringData"]["username"] == "logstash-writer"


@pytest.mark.parametrize("stack", STACKS)
def test_kibana_uses_its_file_realm_user_and_verifies_the_ca(
    revealed: dict[str, Rendered], stack: str
) -> None:
    rendered = revealed[stack]
    settings = kibana_settings(rendered)
    assert settings["elasticsearch.username"] == "${KIBANA_ES_USERNAME}"
    assert settings["elasticsearch.password"] == "${KIBANA_ES_PASSWORD}"
    assert settings["elasticsearch.ssl.verificationMode"] == "full"
    assert settings["elasticsearch.ssl.certificateAuthorities"] == ["/usr/share/kibana/config/certs/ca.crt"]
    assert (
        find(rendered.manifests, "Secret", "elk-kibana-credentials")["stringData"]["username"]
        == "elk-stack-kibana"
    )
    env = env_of(rendered, "Deployment", "elk-kibana")
    assert env["KIBANA_ES_USERNAME"] == secret_ref("elk-kibana-credentials", "username")
    assert env["KIBANA_ES_PASSWORD"] == secret_ref("elk-kibana-credentials", "password")
    for setting, variable in [
        ("xpack.security.encryptionKey", "KIBANA_SECURITY_KEY"),
        ("xpack.encryptedSavedObjects.encryptionKey", "KIBANA_SAVED_OBJECTS_KEY"),
        ("xpack.reporting.encryptionKey", "KIBANA_REPORTING_KEY"),
    ]:
        assert settings[setting] == f"${{{variable}}}"
        assert env[variable] == secret_ref("elk-kibana-encryption-keys", setting)


VERIFICATION_SETTING = re.compile(
    r"""(?P<key>[\w.]*verification_?mode)["']?\s*(?::|=>)\s*["']?(?P<value>\w+)""", re.I
)


@pytest.mark.parametrize("stack", STACKS)
def test_every_tls_verification_setting_has_its_required_value(
    rendered_stacks: dict[str, Rendered], stack: str
) -> None:
    """By value, wherever it is set: clients check the hostname too (`full`), not just the chain.

    Transport stays at `certificate`: nodes connect to each other's pod IPs, which no
    certificate names.
    """
    found = sorted(
        (manifest["metadata"]["name"], key, match["key"], match["value"])
        for manifest in rendered_stacks[stack].manifests
        if manifest["kind"] == "ConfigMap"
        for key, text in manifest["data"].items()
        for match in VERIFICATION_SETTING.finditer(text)
    )
    assert found == [
        (
            "elk-elasticsearch-config",
            "elasticsearch.yml",
            "xpack.security.transport.ssl.verification_mode",
            "certificate",
        ),
        ("elk-kibana-config", "kibana.yml", "elasticsearch.ssl.verificationMode", "full"),
        ("elk-logstash-config", "main.conf", "ssl_verification_mode", "full"),
    ]
    everything = json.dumps(rendered_stacks[stack].manifests)
    assert len(re.findall("verification_?mode", everything, re.I)) == len(found), "none set elsewhere"
    assert not re.search(r"--insecure|(?<![\w-])-k(?![\w-])", everything), "no curl without verification"


@pytest.mark.parametrize("stack", STACKS)
def test_no_secret_value_appears_outside_a_secret(revealed: dict[str, Rendered], stack: str) -> None:
    rendered = revealed[stack]
    secrets = [m for m in rendered.manifests if m["kind"] == "Secret"]
    values = {v for s in secrets for k, v in s["stringData"].items() if k != "username"}
    assert len(values) >= 8, "passwords, keys and certificates must all be present to be checked"
    for manifest in rendered.manifests:
        if manifest["kind"] == "Secret":
            continue
        text = json.dumps(manifest)
        leaked = [v for v in values if v in text]
        assert leaked == [], f"{manifest['kind']}/{manifest['metadata']['name']}"
    assert rendered.outputs["elasticPassword"] in values


@pytest.mark.parametrize("stack", STACKS)
def test_render_redacts_secret_data_and_the_password_output(
    rendered_stacks: dict[str, Rendered], stack: str
) -> None:
    rendered = rendered_stacks[stack]
    secrets = [m for m in rendered.manifests if m["kind"] == "Secret"]
    assert len(secrets) == 9
    for secret in secrets:
        assert set(secret["stringData"].values()) == {REDACTED}
        assert "data" not in secret
    assert rendered.outputs["elasticPassword"] == REDACTED


def test_generated_secrets_come_from_generated_password_resources(
    rendered_stacks: dict[str, Rendered],
) -> None:
    passwords = [r for r in rendered_stacks["qa"].resources if r["type"] == PASSWORD_TYPE]
    assert sorted(r["name"] for r in passwords) == [
        "credentials-elastic",
        "credentials-kibana",
        "credentials-logstash",
        "credentials-probe",
        "credentials-reporting-key",
        "credentials-saved-objects-key",
        "credentials-security-key",
        "credentials-setup",
    ]
    for entry in passwords:
        assert entry["inputs"] == {"length": 48 if entry["name"].endswith("-key") else 32}


def test_generated_resources_record_their_inputs_but_not_the_pickled_provider(
    rendered_stacks: dict[str, Rendered],
) -> None:
    generated = [r for r in rendered_stacks["qa"].resources if r["type"].startswith(GENERATED_PREFIX)]
    assert len(generated) == 14
    for entry in generated:
        assert entry["inputs"], entry["name"]
        assert "__provider" not in entry["inputs"]


def test_generated_secret_outputs_stay_encrypted_in_state(rendered_stacks: dict[str, Rendered]) -> None:
    """The mocks do not know a value is secret; the engine encrypts exactly these outputs."""
    generated = {
        (r["type"].removeprefix(GENERATED_PREFIX), r["name"]): r["additionalSecretOutputs"]
        for r in rendered_stacks["qa"].resources
        if r["type"].startswith(GENERATED_PREFIX)
    }
    assert len(generated) == 14
    for (kind, name), secret_outputs in generated.items():
        expected = {
            "GeneratedPassword": ["result"],
            "PasswordHash": ["hash"],
            "CertificateAuthority": ["private_key_pem"],
            "LeafCertificate": ["ca_private_key_pem", "private_key_pem"],
        }[kind]
        assert secret_outputs == expected, name


def test_generated_values_belong_to_their_component(rendered_stacks: dict[str, Rendered]) -> None:
    """A lost parent changes the URN, and Pulumi would replace (regenerate) the value."""
    parents = {
        r["name"]: r["parent"]
        for r in rendered_stacks["qa"].resources
        if r["type"].startswith(GENERATED_PREFIX)
    }
    assert len(parents) == 14
    for name, parent in parents.items():
        component = (
            "ElasticsearchCertificates::elasticsearch-tls"
            if "tls" in name
            else "StackCredentials::credentials"
        )
        assert parent == f"elk-stack:index:{component}", name


def test_the_ca_key_stays_redacted_where_the_certificate_uses_it(
    rendered_stacks: dict[str, Rendered],
) -> None:
    node = record(rendered_stacks["qa"], LEAF_TYPE, "elasticsearch-tls-elk-elasticsearch-0")["inputs"]
    assert node["ca_private_key_pem"] == REDACTED
    assert node["ca_cert_pem"] != REDACTED


def test_no_literal_password_in_the_code() -> None:
    """Passwords come only from generated resources and Secrets, never from source text."""
    pattern = re.compile(r"""(password|passwd|secret|encryptionKey)\s*[:=]+>?\s*["'][^"'$<{]{6,}["']""", re.I)
    sources = [PROJECT_DIR / "__main__.py"]
    for folder, suffix in (("components", "*.py"), ("pipelines", "*.conf"), ("scripts", "*.sh")):
        sources += sorted((PROJECT_DIR / folder).glob(suffix))
    sources += sorted(PROJECT_DIR.glob("Pulumi*.yaml"))
    assert len(sources) > 10
    found = [f"{path.name}: {m.group(0)}" for path in sources for m in pattern.finditer(path.read_text())]
    assert found == []
    assert pattern.search('password: "hunter2hunter2"'), "the pattern must catch a literal"


def render_in_a_process(out: Path, hash_seed: str) -> dict[str, bytes]:
    """Every file `python -m tools.render qa --show-secrets` writes, in a process of its own."""
    environment = {**os.environ, "PYTHONHASHSEED": hash_seed}
    result = subprocess.run(
        [sys.executable, "-m", "tools.render", "qa", "--show-secrets", "--out", str(out)],
        cwd=PROJECT_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return {path.name: path.read_bytes() for path in sorted((out / "qa").iterdir())}


def test_renders_are_byte_identical_across_processes(tmp_path: Path) -> None:
    """Nothing random or hash-ordered at render time: set iteration differs between these seeds.

    Generated values live in Pulumi state, not in the program, so the Secrets (shown) are
    the same too.
    """
    first = render_in_a_process(tmp_path / "one", "1")
    second = render_in_a_process(tmp_path / "two", "2")
    assert len(first) > 20 and {"resources.json", "outputs.json"} <= first.keys()
    assert any(name.startswith("02-secret-") for name in first)
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []


def test_certificates_renew_before_they_expire(rendered_stacks: dict[str, Rendered]) -> None:
    node = record(rendered_stacks["qa"], LEAF_TYPE, "elasticsearch-tls-elk-elasticsearch-0")["inputs"]
    ca = record(rendered_stacks["qa"], CA_TYPE, "elasticsearch-tls-ca")["inputs"]
    assert node["validity_hours"] == 365 * 24
    assert node["early_renewal_hours"] == 30 * 24
    assert 0 < node["early_renewal_hours"] < node["validity_hours"]
    assert 0 < ca["early_renewal_hours"] < ca["validity_hours"]
    assert ca["validity_hours"] > node["validity_hours"]


def test_ca_and_node_keep_their_key_sizes_and_subjects(rendered_stacks: dict[str, Rendered]) -> None:
    node = record(rendered_stacks["qa"], LEAF_TYPE, "elasticsearch-tls-elk-elasticsearch-0")["inputs"]
    ca = record(rendered_stacks["qa"], CA_TYPE, "elasticsearch-tls-ca")["inputs"]
    assert (ca["rsa_bits"], ca["common_name"], ca["organization"]) == (3072, "elk-stack CA", "elk-stack")
    assert (node["rsa_bits"], node["common_name"], node["organization"]) == (
        2048,
        "elk-elasticsearch-0",
        "elk-stack",
    )


def test_renewal_window_follows_config(render: Render) -> None:
    rendered = render(elasticsearch={"tls": {"validityDays": 90, "earlyRenewalDays": 10}})
    node = record(rendered, LEAF_TYPE, "elasticsearch-tls-elk-elasticsearch-0")["inputs"]
    assert (node["validity_hours"], node["early_renewal_hours"]) == (90 * 24, 10 * 24)


def test_node_certificate_covers_services_pods_and_localhost(rendered_stacks: dict[str, Rendered]) -> None:
    node = record(rendered_stacks["qa"], LEAF_TYPE, "elasticsearch-tls-elk-elasticsearch-0")["inputs"]
    names = node["dns_names"]
    for name in (
        "elk-elasticsearch.elk-qa.svc",
        "elk-elasticsearch.elk-qa.svc.cluster.local",
        "elk-elasticsearch-headless.elk-qa.svc",
        "elk-elasticsearch-0.elk-elasticsearch-headless.elk-qa.svc",
        "localhost",
    ):
        assert name in names
    assert node["ip_addresses"] == ["127.0.0.1"]


def test_clients_mount_only_the_ca(rendered_stacks: dict[str, Rendered]) -> None:
    rendered = rendered_stacks["qa"]
    for kind, name in (
        ("StatefulSet", "elk-logstash"),
        ("Deployment", "elk-kibana"),
        ("Job", "elk-elasticsearch-setup"),
    ):
        volumes = find(rendered.manifests, kind, name)["spec"]["template"]["spec"]["volumes"]
        secret_volumes = [v["secret"] for v in volumes if "secret" in v]
        assert secret_volumes == [
            {"secretName": "elk-elasticsearch-ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]}
        ], name


def test_bring_your_own_pki(render: Render) -> None:
    rendered = render(elasticsearch={"tls": {"existingSecret": "company-pki"}})
    assert not [r for r in rendered.resources if r["type"] in (CA_TYPE, LEAF_TYPE)]
    assert [r for r in rendered.resources if r["type"] == PASSWORD_TYPE], "passwords are still generated"
    assert not [m for m in rendered.manifests if m["metadata"]["name"].endswith("-certs")]
    es_volumes = find(rendered.manifests, "StatefulSet", "elk-elasticsearch")["spec"]["template"]["spec"][
        "volumes"
    ]
    assert {"name": "certs", "secret": {"secretName": "company-pki", "defaultMode": 0o440}} in es_volumes
    kibana_volumes = find(rendered.manifests, "Deployment", "elk-kibana")["spec"]["template"]["spec"][
        "volumes"
    ]
    assert {
        "name": "elasticsearch-ca",
        "secret": {"secretName": "company-pki", "items": [{"key": "ca.crt", "path": "ca.crt"}]},
    } in kibana_volumes


def test_ca_change_rolls_the_clients(render: Render) -> None:
    def annotations(rendered: Rendered, kind: str, name: str) -> dict[str, str]:
        result: dict[str, str] = find(rendered.manifests, kind, name)["spec"]["template"]["metadata"][
            "annotations"
        ]
        return result

    own, byo = render(), render(elasticsearch={"tls": {"existingSecret": "company-pki"}})
    for kind, name in (("StatefulSet", "elk-logstash"), ("Deployment", "elk-kibana")):
        assert (
            annotations(own, kind, name)["elk-stack/ca-checksum"]
            != annotations(byo, kind, name)["elk-stack/ca-checksum"]
        )


def test_http_tls_off_keeps_auth_and_transport_tls(render: Render) -> None:
    rendered = render(elasticsearch={"tls": {"http": False}})
    settings = es_settings(rendered)
    assert settings["xpack.security.enabled"] is True
    assert settings["xpack.security.transport.ssl.enabled"] is True
    assert settings["xpack.security.http.ssl.enabled"] is False
    assert rendered.outputs["elasticsearchUrl"].startswith("http://")
    pipeline = find(rendered.manifests, "ConfigMap", "elk-logstash-config")["data"]["main.conf"]
    assert pipeline == (PROJECT_DIR / "pipelines" / "spring-boot-json-http.conf").read_text()
    assert "ELASTICSEARCH_CA" not in env_of(rendered, "StatefulSet", "elk-logstash")
    assert "elasticsearch.ssl.certificateAuthorities" not in kibana_settings(rendered)


def test_security_can_be_disabled_only_with_a_loud_warning(render: Render) -> None:
    rendered = render(security={"enabled": False})
    assert len(rendered.warnings) == 1 and rendered.warnings[0].startswith("SECURITY IS DISABLED")
    assert es_settings(rendered)["xpack.security.enabled"] is False
    assert not [m for m in rendered.manifests if m["kind"] == "Secret"]
    job = find(rendered.manifests, "Job", "elk-elasticsearch-setup")
    env_names = {e["name"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "ELASTIC_PASSWORD" not in env_names and "ILM_POLICY" in env_names, "retention only, no users"
    assert "elasticPassword" not in rendered.outputs
    pipeline = find(rendered.manifests, "ConfigMap", "elk-logstash-config")["data"]["main.conf"]
    assert pipeline == (PROJECT_DIR / "pipelines" / "spring-boot-json-insecure.conf").read_text()
    assert render().warnings == []


def test_render_cli_prints_the_warning(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.program.test_render import project_copy

    project = project_copy(
        tmp_path, {"open": "config:\n  elk-stack:namespace: elk\n  elk-stack:security: {enabled: false}\n"}
    )
    result = subprocess.run(
        [sys.executable, "-m", "tools.render", "open", "--out", str(tmp_path / "build")],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("warning: SECURITY IS DISABLED")


def test_kibana_status_stays_private_on_recent_versions(render: Render) -> None:
    assert "status.allowAnonymous" not in kibana_settings(render(version="8.16.0"))
    assert kibana_settings(render(version="8.15.3"))["status.allowAnonymous"] is True


@pytest.mark.parametrize("stack", STACKS)
def test_every_workload_has_its_own_account_without_a_token(
    rendered_stacks: dict[str, Rendered], stack: str
) -> None:
    rendered = rendered_stacks[stack]
    accounts = {m["metadata"]["name"]: m for m in rendered.manifests if m["kind"] == "ServiceAccount"}
    workloads = [m for m in rendered.manifests if m["kind"] in ("StatefulSet", "Deployment", "Job")]
    assert len(workloads) == 4
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == workload["metadata"]["name"]
        assert pod["automountServiceAccountToken"] is False
        assert accounts[pod["serviceAccountName"]]["automountServiceAccountToken"] is False
    assert len(accounts) == len(workloads)


@pytest.mark.parametrize("stack", STACKS)
def test_network_policies_select_the_right_pods_and_ports(
    rendered_stacks: dict[str, Rendered], stack: str
) -> None:
    manifests = rendered_stacks[stack].manifests

    def policy(app: str) -> dict[str, Any]:
        spec: dict[str, Any] = find(manifests, "NetworkPolicy", f"elk-{app}")["spec"]
        assert spec["policyTypes"] == ["Ingress"]
        assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == app
        return spec

    def sources(rule: dict[str, Any]) -> list[str]:
        return sorted(peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for peer in rule["from"])

    es_http, es_transport = policy("elasticsearch")["ingress"]
    assert es_http["ports"] == [{"protocol": "TCP", "port": 9200}]
    assert sources(es_http) == ["elasticsearch", "elasticsearch-setup", "kibana", "logstash"]
    assert es_transport["ports"] == [{"protocol": "TCP", "port": 9300}]
    assert sources(es_transport) == ["elasticsearch"]
    (logstash_rule,) = policy("logstash")["ingress"]
    assert logstash_rule["ports"] == [{"protocol": "TCP", "port": 5000}, {"protocol": "TCP", "port": 5044}]
    assert logstash_rule["from"] == [{"podSelector": {}}], "the whole namespace by default"
    (kibana_rule,) = policy("kibana")["ingress"]
    assert kibana_rule["ports"] == [{"protocol": "TCP", "port": 5601}]
    # Every pod a policy admits exists in the stack, so the selectors are not typos.
    pod_names = {
        m["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
        for m in manifests
        if m["kind"] in ("StatefulSet", "Deployment", "Job")
    }
    assert set(sources(es_http)) <= pod_names


def test_kibana_sources_from_config(render: Render) -> None:
    rendered = render(
        networkPolicy={"kibanaFrom": [{"namespaceLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}]}
    )
    (rule,) = find(rendered.manifests, "NetworkPolicy", "elk-kibana")["spec"]["ingress"]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    ]
    qa_rule = find(render().manifests, "NetworkPolicy", "elk-kibana")["spec"]["ingress"][0]
    assert "from" not in qa_rule, "no selector given: from anywhere"


def test_network_policies_can_be_disabled(render: Render) -> None:
    assert not [m for m in render(networkPolicy={"enabled": False}).manifests if m["kind"] == "NetworkPolicy"]


def test_qa_stack_admits_kibana_only_from_its_ingress_controller(
    rendered_stacks: dict[str, Rendered],
) -> None:
    (rule,) = find(rendered_stacks["qa"].manifests, "NetworkPolicy", "elk-kibana")["spec"]["ingress"]
    assert rule["from"][0]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
    }


def test_a_changed_password_rolls_exactly_its_consumers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pods read passwords at start; the one whose password changed must restart, no other."""
    import tools.render as render_module

    def revisions() -> dict[str, str]:
        rendered = run_program(stack_config("qa"), stack="qa")
        return {
            m["metadata"]["name"]: m["spec"]["template"]["metadata"]["annotations"][
                "elk-stack/credentials-revision"
            ]
            for m in rendered.manifests
            if m["kind"] in ("StatefulSet", "Deployment", "Job")
        }

    before = revisions()
    original = render_module._placeholder

    def rotated(kind: str, name: str) -> str:
        return original(kind, name + "-rotated") if name == "credentials-logstash" else original(kind, name)

    monkeypatch.setattr(render_module, "_placeholder", rotated)
    after = revisions()
    changed = sorted(name for name in before if before[name] != after[name])
    assert changed == ["elk-logstash"], "the nodes re-read the file realm; the Job sets no password"


def test_capacity_shortfall_is_warned_in_render(render: Render) -> None:
    rendered = render(elasticsearch={"capacity": {"eventsPerDay": 5_000_000, "avgEventBytes": 1000}})
    assert [w.split(":")[0] for w in rendered.warnings] == ["elasticsearch.storage.size"]
    assert render().warnings == []
