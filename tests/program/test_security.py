"""Secure by default, across the whole render: authentication, TLS, least-privilege users.

TLS verification is checked by value wherever it is set, no secret value appears outside
a Secret, and the render is the same in every process.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import STACKS, find
from tests.readers import container, credentials_of, env_of, es_settings, kibana_settings, secret_ref
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
    assert env["BOOTSTRAP_PASSWORD_FILE"] == "/mnt/elk-stack/bootstrap/password"
    pod = find(rendered_stacks[stack].manifests, "StatefulSet", "elk-elasticsearch")["spec"]["template"][
        "spec"
    ]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "bootstrap-password"]
    assert volume["secret"]["secretName"] == "elk-elastic-credentials"
    assert volume["secret"]["items"] == [{"key": "password", "path": "password"}]


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
    files = credentials_of(rendered, "StatefulSet", "elk-logstash")
    assert files["ELASTICSEARCH_USER"] == secret_ref("elk-logstash-credentials", "username")
    assert files["ELASTICSEARCH_PASSWORD"] == secret_ref("elk-logstash-credentials", "password")
    assert env["ENV_FILES_DIR"] == "/mnt/elk-stack/env"
    assert container(rendered, "StatefulSet", "elk-logstash")["command"] == [
        "bash",
        "/opt/elk-stack/env-from-files.sh",
        "/usr/local/bin/docker-entrypoint",
    ]
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
    env = credentials_of(rendered, "Deployment", "elk-kibana")
    assert env["KIBANA_ES_USERNAME"] == secret_ref("elk-kibana-credentials", "username")
    assert env["KIBANA_ES_PASSWORD"] == secret_ref("elk-kibana-credentials", "password")
    assert container(rendered, "Deployment", "elk-kibana")["args"] == [
        "bash",
        "/opt/elk-stack/env-from-files.sh",
        "/usr/local/bin/kibana-docker",
    ]
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
    assert len(secrets) == 10
    for secret in secrets:
        assert set(secret["stringData"].values()) == {REDACTED}
        assert "data" not in secret
    assert rendered.outputs["elasticPassword"] == REDACTED


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


def test_security_can_be_disabled_only_with_a_loud_warning(render: Render) -> None:
    rendered = render(security={"enabled": False})
    assert len(rendered.warnings) == 1 and rendered.warnings[0].startswith("SECURITY IS DISABLED")
    assert es_settings(rendered)["xpack.security.enabled"] is False
    assert not [m for m in rendered.manifests if m["kind"] == "Secret"]
    job = find(rendered.manifests, "Job", "elk-elasticsearch-setup")
    env_names = {e["name"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "ENV_FILES_DIR" not in env_names and "ILM_POLICY" in env_names, "retention only, no users"
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
    assert len(workloads) == 6
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        account, name = pod["serviceAccountName"], workload["metadata"]["name"]
        assert name == account or name.startswith(f"{account}-"), "a Job's name adds its change"
        assert pod["automountServiceAccountToken"] is False
        assert accounts[pod["serviceAccountName"]]["automountServiceAccountToken"] is False
    used = {workload["spec"]["template"]["spec"]["serviceAccountName"] for workload in workloads}
    assert len(accounts) == len(used)
