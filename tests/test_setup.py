"""The setup Job: its script against a fake Elasticsearch, and the Job's manifest."""

from __future__ import annotations

import base64
import fnmatch
import http.server
import json
import os
import re
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from components.configuration import Retention
from components.configuration.pipeline import SHIPPED_PIPELINES, covers, write_targets
from components.generated import CertificateAuthorityProvider, LeafCertificateProvider
from tests.conftest import find
from tests.fake_elasticsearch import (
    COMPONENT,
    POLICY,
    SCRIPT,
    SETTINGS,
    SETUP_AUTH,
    TEMPLATE,
    FakeElasticsearch,
    needs_bash_and_curl,
    run_setup,
    serve,
)
from tests.readers import job_env
from tools.render import PROJECT_DIR, Rendered

Render = Callable[..., Rendered]


pytestmark = needs_bash_and_curl


# What a version before the file realm left behind: Logstash's user and role, marked.
LEGACY_MARK = {"metadata": {"managed_by": "elk-stack"}}


def test_setup_logs_in_as_its_own_user_and_writes_no_user(fake_es: FakeElasticsearch) -> None:
    """The stack's users are in the file realm: the Job sets no password and creates no user."""
    result = run_setup(fake_es)
    assert result.returncode == 0, result.stderr
    assert [(method, path) for method, path, _, _ in fake_es.calls] == [
        ("GET", "/_cluster/health?wait_for_status=yellow&timeout=5s"),
        ("PUT", "/_ilm/policy/elk-stack-logs"),
        ("PUT", "/_component_template/elk-stack-logs@custom"),
        ("PUT", "/_index_template/elk-stack-logs"),
        ("PUT", "/logs-springboot-*,logs-myapp-*/_settings?allow_no_indices=true&ignore_unavailable=true"),
        ("GET", "/_security/user?filter_path=*.metadata.managed_by"),
        ("GET", "/_security/role?filter_path=*.metadata.managed_by"),
        # No snapshots configured: only a check that none were left from an earlier config.
        ("GET", "/_slm/policy/elk-stack-snapshots"),
        ("GET", "/_snapshot/elk-stack"),
    ]
    assert {auth for _, _, auth, _ in fake_es.calls} == {SETUP_AUTH}
    assert not fake_es.users and not fake_es.roles


def test_a_changed_elastic_password_breaks_nothing(fake_es: FakeElasticsearch) -> None:
    """Someone changed `elastic`'s password through the API; the cluster lets in only the
    setup user of the file realm and `elastic` with its new password. The Job still works."""
    fake_es.accepts = {SETUP_AUTH, "Basic " + base64.b64encode(b"elastic:changed-by-a-person").decode()}
    result = run_setup(fake_es)
    assert result.returncode == 0, result.stderr
    assert fake_es.templates, "retention was installed"


def test_setup_is_idempotent(fake_es: FakeElasticsearch) -> None:
    fake_es.users["logstash-writer"] = {"roles": ["logstash-writer"], **LEGACY_MARK}
    assert run_setup(fake_es).returncode == 0
    first = (dict(fake_es.users), dict(fake_es.roles), dict(fake_es.templates))
    calls = len(fake_es.calls)
    second_run = run_setup(fake_es)
    assert second_run.returncode == 0, second_run.stderr
    assert (fake_es.users, fake_es.roles, fake_es.templates) == first
    assert len(fake_es.calls) == 2 * calls - 1, "the same requests, less the one deletion"
    assert all(method in ("GET", "PUT") for method, _, _, _ in fake_es.calls[calls:]), "nothing to delete"


def test_setup_waits_for_the_cluster(fake_es: FakeElasticsearch) -> None:
    fake_es.unhealthy_answers = 2
    result = run_setup(fake_es)
    assert result.returncode == 0, result.stderr
    health = [path for _, path, _, _ in fake_es.calls if path.startswith("/_cluster/health")]
    assert len(health) == 3


def test_setup_gives_up_when_the_cluster_never_comes(fake_es: FakeElasticsearch) -> None:
    fake_es.unhealthy_answers = 100
    result = run_setup(fake_es, WAIT_ATTEMPTS="3")
    assert result.returncode == 1
    assert "did not become ready after 3 attempts" in result.stderr
    assert not fake_es.policies


def test_setup_fails_on_an_error_answer(fake_es: FakeElasticsearch) -> None:
    """A refused request (a right the setup role lacks, say) must fail the Job, not pass silently."""
    fake_es.refuse = "/_component_template/"
    fake_es.refusal_reason = "action [cluster:admin/component_template/put] is unauthorized"
    result = run_setup(fake_es)
    assert result.returncode != 0
    assert not fake_es.templates, "nothing after the refused step runs"
    assert (
        "PUT /_component_template/elk-stack-logs@custom refused: HTTP 401: "
        '{"error":{"type":"security_exception","reason":"action [cluster:admin/component_template/put] '
        'is unauthorized"},"status":401} (user elk-stack-setup)'
    ) in result.stderr, "the request, its status, Elasticsearch's reason and the user are logged"


def test_existing_data_streams_get_the_template_settings(fake_es: FakeElasticsearch) -> None:
    """A template shapes only later backing indices: replicas and policy must reach the write index."""
    assert run_setup(fake_es).returncode == 0
    assert fake_es.index_settings == {"logs-springboot-*,logs-myapp-*": SETTINGS}
    assert run_setup(fake_es, INDEX_SETTINGS=json.dumps({"index.number_of_replicas": 0})).returncode == 0
    assert fake_es.index_settings["logs-springboot-*,logs-myapp-*"] == {"index.number_of_replicas": 0}


def test_native_users_an_earlier_version_made_are_removed_and_nothing_else(
    fake_es: FakeElasticsearch,
) -> None:
    """Only users and roles carrying the stack's marker are deleted; a person's own never are."""
    fake_es.users["logstash-writer"] = {"roles": ["logstash-writer"], **LEGACY_MARK}
    fake_es.roles["logstash-writer"] = {"cluster": ["monitor"], **LEGACY_MARK}
    fake_es.users["alice"] = {"roles": ["logstash-writer"], "metadata": {"team": "ops"}}
    fake_es.users["bob"] = {"roles": ["viewer"]}
    fake_es.users["carol"] = {"roles": ["viewer"], "metadata": {"managed_by": "someone-else"}}
    fake_es.roles["viewer"] = {"cluster": []}
    result = run_setup(fake_es)
    assert result.returncode == 0, result.stderr
    assert sorted(fake_es.users) == ["alice", "bob", "carol"]
    assert sorted(fake_es.roles) == ["viewer"]
    assert ("DELETE", "/_security/user/logstash-writer") in [(m, path) for m, path, _, _ in fake_es.calls]
    assert (
        "deleting user logstash-writer" in result.stdout and "deleting role logstash-writer" in result.stdout
    )


def test_a_hanging_health_request_is_cut_off(fake_es: FakeElasticsearch) -> None:
    """curl's --max-time bounds each attempt as docs/security.md says, whatever the server does."""
    documented = re.search(r"each at most (\d+) seconds", (PROJECT_DIR / "docs" / "security.md").read_text())
    assert documented, "docs/security.md states how long one attempt may take"
    fake_es.health_delay = 30
    started = time.monotonic()
    result = run_setup(fake_es, WAIT_ATTEMPTS="1")
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert "did not become ready after 1 attempts" in result.stderr
    assert int(documented.group(1)) - 1 < elapsed < int(documented.group(1)) + 3


def test_setup_fails_when_elasticsearch_is_unreachable(fake_es: FakeElasticsearch) -> None:
    result = run_setup(fake_es, ES_URL="http://127.0.0.1:9", WAIT_ATTEMPTS="2")
    assert result.returncode == 1
    assert "did not become ready after 2 attempts" in result.stderr


def test_passwords_never_reach_a_command_line() -> None:
    text = SCRIPT.read_text()
    assert "-u " not in text and "--user " not in text
    assert "-K <(printf" in text and "--data-binary @<(printf" in text


def test_job_runs_the_script_with_secrets_from_secrets(rendered_stacks: dict[str, Rendered]) -> None:
    rendered = rendered_stacks["qa"]
    job = find(rendered.manifests, "Job", "elk-elasticsearch-setup")
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "docker.elastic.co/elasticsearch/elasticsearch:9.4.3"
    assert container["command"] == ["bash", "/opt/elk-stack/elasticsearch-setup.sh"]
    env = {e["name"]: e for e in container["env"]}
    for variable, key in (("SETUP_USERNAME", "username"), ("SETUP_PASSWORD", "password")):
        assert env[variable] == {
            "name": variable,
            "valueFrom": {"secretKeyRef": {"name": "elk-setup-credentials", "key": key}},
        }
    secrets = {e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e}
    assert secrets == {"elk-setup-credentials"}, "no other user's password, `elastic`'s least"
    assert env["CA_CERT"]["value"] == "/opt/elk-stack/certs/ca.crt"
    assert env["ES_URL"]["value"] == rendered.outputs["elasticsearchUrl"]
    script = find(rendered.manifests, "ConfigMap", "elk-elasticsearch-setup-config")
    assert script["data"]["elasticsearch-setup.sh"] == SCRIPT.read_text()
    assert pod["restartPolicy"] == "OnFailure"


def test_job_is_replaced_when_its_password_changes(render: Render, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Job's template is immutable: a changed one makes Pulumi replace the Job, which logs in anew.

    The name stays fixed, so the old Job must be deleted first.
    """
    password = "credentials-setup"
    import tools.render as render_module

    def job(rendered: Rendered) -> dict[str, Any]:
        return find(rendered.manifests, "Job", "elk-elasticsearch-setup")

    before = render()
    original = render_module._placeholder

    def rotated(kind: str, name: str) -> str:
        return original(kind, name + "-rotated") if name == password else original(kind, name)

    monkeypatch.setattr(render_module, "_placeholder", rotated)
    after = render()
    assert job(after)["spec"]["template"] != job(before)["spec"]["template"]
    assert job(after)["metadata"]["name"] == job(before)["metadata"]["name"]
    record = next(r for r in after.resources if r["type"] == "kubernetes:batch/v1:Job")
    assert record["deleteBeforeReplace"] is True
    assert "kubernetes:apps/v1:StatefulSet::elasticsearch" in record["dependsOn"], (
        "runs after the node exists"
    )


def test_a_rejected_password_fails_at_once_instead_of_waiting(fake_es: FakeElasticsearch) -> None:
    fake_es.refuse = "/_cluster/health"
    result = run_setup(fake_es, WAIT_ATTEMPTS="50")
    assert result.returncode == 1
    assert "refused the elk-stack-setup user's password (HTTP 401)" in result.stderr
    assert len(fake_es.calls) == 1


def test_a_missing_privilege_fails_at_once_instead_of_waiting(fake_es: FakeElasticsearch) -> None:
    """A 403 while waiting for the cluster is a role without `monitor`: no retry can fix it."""
    fake_es.refuse = "/_cluster/health"
    fake_es.refusal_status = 403
    fake_es.refusal_reason = "action [cluster:monitor/health] is unauthorized for user [elk-stack-setup]"
    result = run_setup(fake_es, WAIT_ATTEMPTS="50")
    assert result.returncode == 1
    assert "refuses it this request (HTTP 403)" in result.stderr
    assert "is unauthorized for user [elk-stack-setup]" in result.stderr, "Elasticsearch's answer is logged"
    assert len(fake_es.calls) == 1


def test_setup_installs_retention(fake_es: FakeElasticsearch) -> None:
    assert run_setup(fake_es).returncode == 0
    assert fake_es.policies == {"elk-stack-logs": POLICY}
    assert fake_es.component_templates["elk-stack-logs@custom"] == COMPONENT
    assert fake_es.templates == {"elk-stack-logs": TEMPLATE}


def test_the_rendered_templates_install_into_a_cluster_with_elastics_built_ins(
    fake_es: FakeElasticsearch, rendered_stacks: dict[str, Rendered]
) -> None:
    """The bodies the Job sends, in its order: the index template only composes what exists by then."""
    env = job_env(rendered_stacks["qa"])
    names = ("COMPONENT_TEMPLATE_NAME", "COMPONENT_TEMPLATE", "INDEX_TEMPLATE_NAME", "INDEX_TEMPLATE")
    result = run_setup(fake_es, **{name: env[name] for name in names})
    assert result.returncode == 0, result.stderr
    assert fake_es.templates["elk-stack-logs"]["composed_of"][-1] == "elk-stack-logs@custom"
    del fake_es.component_templates["ecs@mappings"]  # a cluster without Elastic's built-ins
    result = run_setup(fake_es, **{name: env[name] for name in names})
    assert result.returncode != 0
    assert "specifies component templates ['ecs@mappings'] that do not exist" in result.stderr


def test_setup_without_security_installs_only_retention(fake_es: FakeElasticsearch) -> None:
    result = run_setup(fake_es, SETUP_USERNAME=None, SETUP_PASSWORD="")
    assert result.returncode == 0, result.stderr
    assert [path for _, path, _, _ in fake_es.calls] == [
        "/_cluster/health?wait_for_status=yellow&timeout=5s",
        "/_ilm/policy/elk-stack-logs",
        "/_component_template/elk-stack-logs@custom",
        "/_index_template/elk-stack-logs",
        "/logs-springboot-*,logs-myapp-*/_settings?allow_no_indices=true&ignore_unavailable=true",
        "/_slm/policy/elk-stack-snapshots",
        "/_snapshot/elk-stack",
    ]
    assert {auth for _, _, auth, _ in fake_es.calls} == {""}, "no credentials are sent"
    assert not fake_es.users


def test_job_sends_the_stack_retention(rendered_stacks: dict[str, Rendered]) -> None:
    """qa keeps 14 days and test 3, from their stack files."""
    for stack, days in (("qa", "14d"), ("test", "3d")):
        policy = json.loads(job_env(rendered_stacks[stack])["ILM_POLICY"])
        phases = policy["policy"]["phases"]
        assert phases["delete"] == {"min_age": days, "actions": {"delete": {}}}
        assert phases["hot"]["actions"]["rollover"] == {"max_age": "1d", "max_primary_shard_size": "10gb"}


def test_index_template_matches_the_pipeline_data_stream(rendered_stacks: dict[str, Rendered]) -> None:
    rendered = rendered_stacks["qa"]
    template = json.loads(job_env(rendered)["INDEX_TEMPLATE"])
    assert template["index_patterns"] == ["logs-springboot-*"]
    assert template["data_stream"] == {}
    assert template["priority"] > 100, "above Elasticsearch's built-in logs template"
    settings = json.loads(job_env(rendered)["COMPONENT_TEMPLATE"])["template"]["settings"]
    assert settings["index.lifecycle.name"] == job_env(rendered)["ILM_POLICY_NAME"] == "elk-stack-logs"
    assert settings["index.number_of_replicas"] == 0, "one data node: a replica could never be placed"
    assert settings["index.refresh_interval"] == "5s"
    pipeline = find(rendered.manifests, "ConfigMap", "elk-logstash-config")["data"]["main.conf"]
    dataset = re.search(r'data_stream_dataset => "([^"]+)"', pipeline)
    stream_type = re.search(r'data_stream_type => "([^"]+)"', pipeline)
    assert dataset and stream_type
    stream = f"{stream_type.group(1)}-{dataset.group(1)}-default"
    assert fnmatch.fnmatch(stream, template["index_patterns"][0])
    assert fnmatch.fnmatch(stream, "logs-*-*"), "the Logstash user's role covers it"


def test_the_index_template_keeps_elastics_built_in_logs_template(
    rendered_stacks: dict[str, Rendered],
) -> None:
    """It composes what Elastic's `logs` template composes, in that order, and adds only our settings.

    Elastic's logs@template.json: composed_of logs@mappings, logs@settings, logs@custom,
    ecs@mappings; only logs@custom may be missing. Nothing of ours may override their
    mappings (ignore_malformed, ECS dynamic templates, field limits).
    """
    env = job_env(rendered_stacks["qa"])
    template = json.loads(env["INDEX_TEMPLATE"])
    assert template["composed_of"] == [
        "logs@mappings",
        "logs@settings",
        "logs@custom",
        "ecs@mappings",
        env["COMPONENT_TEMPLATE_NAME"],
    ]
    assert env["COMPONENT_TEMPLATE_NAME"].endswith("@custom")
    assert template["ignore_missing_component_templates"] == ["logs@custom"]
    assert "template" not in template, "no mappings or settings of its own above the built-ins"
    component = json.loads(env["COMPONENT_TEMPLATE"])
    assert set(component["template"]) == {"settings"}, "settings only: the built-in mappings stay"
    assert set(component["template"]["settings"]) == {
        "index.number_of_shards",
        "index.number_of_replicas",
        "index.lifecycle.name",
        "index.refresh_interval",
    }


def test_before_8_13_the_index_template_brings_its_own_mappings(render: Render) -> None:
    """Older clusters lack the `@`-named built-ins; composing them would refuse the template."""
    env = job_env(render(version="8.12.2"))
    template = json.loads(env["INDEX_TEMPLATE"])
    assert template["composed_of"] == [env["COMPONENT_TEMPLATE_NAME"]]
    assert "ignore_missing_component_templates" not in template
    assert template["template"]["mappings"]["properties"]["message"] == {"type": "match_only_text"}


def test_job_applies_the_template_settings_to_existing_data_streams(render: Render) -> None:
    """Existing backing indices get the template's dynamic settings, for the same streams."""
    for rendered in (
        render(),
        render(elasticsearch={"replicas": 3, "retention": {"dataStreams": ["logs-a-*", "logs-b-*"]}}),
    ):
        env = job_env(rendered)
        template = json.loads(env["INDEX_TEMPLATE"])
        settings = json.loads(env["INDEX_SETTINGS"])
        component = json.loads(env["COMPONENT_TEMPLATE"])
        assert env["DATA_STREAMS"] == ",".join(template["index_patterns"])
        assert settings == {
            k: v for k, v in component["template"]["settings"].items() if k != "index.number_of_shards"
        }
    assert settings["index.number_of_replicas"] == 1


def test_replicas_follow_the_number_of_data_nodes(render: Render) -> None:
    def replicas(rendered: Rendered) -> int:
        component = json.loads(job_env(rendered)["COMPONENT_TEMPLATE"])
        value: int = component["template"]["settings"]["index.number_of_replicas"]
        return value

    assert replicas(render()) == 0
    assert replicas(render(elasticsearch={"replicas": 3})) == 1
    node_sets = [
        {"name": "master", "replicas": 3, "roles": ["master"]},
        {"name": "data", "replicas": 1, "roles": ["data"]},
    ]
    assert replicas(render(elasticsearch={"nodeSets": node_sets})) == 0


def test_every_shipped_pipeline_writes_the_templated_data_stream() -> None:
    """Only the shipped ones: a user's own pipeline under pipelines/ may write elsewhere."""
    for relative in SHIPPED_PIPELINES:
        (target,) = write_targets((PROJECT_DIR / relative).read_text())
        assert (target.kind, target.written) == ("data stream", "logs-springboot-default"), relative
        assert any(covers(pattern, target.pattern) for pattern in Retention().data_streams), relative


# --- over TLS, as the Job runs it ---------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """A CA and the server certificate it signs for 127.0.0.1, and an unrelated CA."""

    ca: Path
    other_ca: Path
    server_certificate: Path
    server_key: Path


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def certificate(
    subject: str, key: rsa.RSAPrivateKey, issuer: x509.Certificate | None, issuer_key: rsa.RSAPrivateKey
) -> x509.Certificate:
    """A CA certificate (no issuer: self-signed) or a server certificate for 127.0.0.1."""
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), critical=False
        )
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca_key, other_key, server_key = new_key(), new_key(), new_key()
    ca = certificate("test CA", ca_key, None, ca_key)
    files = Pki(folder / "ca.crt", folder / "other-ca.crt", folder / "server.crt", folder / "server.key")
    files.ca.write_bytes(pem(ca))
    files.other_ca.write_bytes(pem(certificate("test CA", other_key, None, other_key)))
    files.server_certificate.write_bytes(pem(certificate("127.0.0.1", server_key, ca, ca_key)))
    files.server_key.write_bytes(key_pem(server_key))
    return files


def serve_tls(certificate_file: Path, key_file: Path) -> tuple[FakeElasticsearch, http.server.HTTPServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate_file, key_file)
    state = FakeElasticsearch()
    return state, serve(state, context)


@pytest.fixture
def tls_es(pki: Pki) -> Iterator[FakeElasticsearch]:
    state, server = serve_tls(pki.server_certificate, pki.server_key)
    yield state
    server.shutdown()
    server.server_close()


def test_setup_over_https_trusts_the_ca_it_is_given(tls_es: FakeElasticsearch, pki: Pki) -> None:
    assert tls_es.url.startswith("https://")
    result = run_setup(tls_es, CA_CERT=str(pki.ca))
    assert result.returncode == 0, result.stderr
    assert len(tls_es.calls) == 9
    assert tls_es.templates == {"elk-stack-logs": TEMPLATE}


@pytest.mark.parametrize("ca", ["other", "none"])
def test_setup_refuses_a_server_its_ca_did_not_sign(tls_es: FakeElasticsearch, pki: Pki, ca: str) -> None:
    """No request may reach a server the CA does not vouch for: it would receive the setup user's password."""
    result = run_setup(tls_es, CA_CERT=str(pki.other_ca) if ca == "other" else None, WAIT_ATTEMPTS="2")
    assert result.returncode == 1
    assert "did not become ready after 2 attempts" in result.stderr
    assert "SSL certificate problem" in result.stderr
    assert tls_es.calls == []


def test_setup_accepts_the_certificates_the_stack_generates(
    rendered_stacks: dict[str, Rendered], tmp_path: Path
) -> None:
    """The CA and node certificate the providers make, with the qa stack's settings, pass curl's checks."""
    inputs = {
        r["type"].rsplit(":", 1)[1]: r["inputs"]
        for r in rendered_stacks["qa"].resources
        if r["type"].startswith("pulumi-python:dynamic/")
    }
    ca = CertificateAuthorityProvider().create(dict(inputs["CertificateAuthority"])).outs
    assert ca is not None
    node = (
        LeafCertificateProvider()
        .create(
            {
                **inputs["LeafCertificate"],
                "ca_cert_pem": ca["cert_pem"],
                "ca_private_key_pem": ca["private_key_pem"],
            }
        )
        .outs
    )
    assert node is not None and "127.0.0.1" in node["ip_addresses"]
    for file_name, text in (
        ("ca.crt", ca["cert_pem"]),
        ("tls.crt", node["cert_pem"]),
        ("tls.key", node["private_key_pem"]),
    ):
        (tmp_path / file_name).write_text(text)
    state, server = serve_tls(tmp_path / "tls.crt", tmp_path / "tls.key")
    try:
        result = run_setup(state, CA_CERT=str(tmp_path / "ca.crt"))
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr
    assert len(state.calls) == 9


def test_the_job_waits_as_long_as_the_readme_says(
    rendered_stacks: dict[str, Rendered], tls_es: FakeElasticsearch, pki: Pki, tmp_path: Path
) -> None:
    """The Job's own wait settings (the script's defaults unless it sets them), with `sleep` stubbed out."""
    documented = re.search(
        r"waits until cluster health is at least yellow \((\d+) attempts, (\d+) seconds apart, "
        r"each at most (\d+) seconds",
        (PROJECT_DIR / "docs" / "security.md").read_text(),
    )
    assert documented, "docs/security.md states the setup Job's wait"
    attempts, seconds, attempt_seconds = (
        int(documented.group(1)),
        documented.group(2),
        int(documented.group(3)),
    )
    job = find(rendered_stacks["qa"].manifests, "Job", "elk-elasticsearch-setup")
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    stub = tmp_path / "bin" / "sleep"
    stub.parent.mkdir()
    stub.write_text('#!/bin/sh\necho "$1" >> "$SLEEP_LOG"\n')
    stub.chmod(0o755)
    tls_es.unhealthy_answers = 10 * attempts
    result = run_setup(
        tls_es,
        CA_CERT=str(pki.ca),
        WAIT_ATTEMPTS=env.get("WAIT_ATTEMPTS"),
        WAIT_SECONDS=env.get("WAIT_SECONDS"),
        PATH=f"{stub.parent}:{os.environ['PATH']}",
        SLEEP_LOG=str(tmp_path / "sleeps"),
    )
    assert result.returncode == 1
    assert f"did not become ready after {attempts} attempts" in result.stderr
    assert len(tls_es.calls) == attempts
    sleeps = (tmp_path / "sleeps").read_text().split()
    assert sleeps == [seconds] * (attempts - 1)
    # Each attempt takes at most its documented bound (test_a_hanging_health_request_is_cut_off):
    # the whole wait ends well before the Job's deadline.
    assert (attempts - 1) * int(seconds) + attempts * attempt_seconds < job["spec"]["activeDeadlineSeconds"]


def test_retention_covers_the_users_own_data_streams(render: Callable[..., Rendered]) -> None:
    streams = ["logs-springboot-*", "logs-myapp-*"]
    rendered = render(elasticsearch={"retention": {"dataStreams": streams, "maxAge": "30d"}})
    template = json.loads(job_env(rendered)["INDEX_TEMPLATE"])
    assert template["index_patterns"] == streams
    component = json.loads(job_env(rendered)["COMPONENT_TEMPLATE"])
    assert component["template"]["settings"]["index.lifecycle.name"] == "elk-stack-logs"
    policy = json.loads(job_env(rendered)["ILM_POLICY"])
    assert policy["policy"]["phases"]["delete"]["min_age"] == "30d"


# --- snapshots (issue 12): the repository, its verification and the SLM policy ----------

S3_REPOSITORY = {
    "type": "s3",
    "bucket": "elk-backups",
    "basePath": "qa",
    "endpoint": "minio.storage.svc:9000",
    "pathStyleAccess": True,
    "credentialsSecret": "elk-snapshot-credentials",
}


def snapshot_job_env(render: Render, **snapshot_config: Any) -> dict[str, str]:
    """The setup Job's snapshot variables for a stack with `elasticsearch.snapshots`."""
    env = job_env(render(elasticsearch={"snapshots": snapshot_config}))
    return {name: value for name, value in env.items() if name.startswith(("SNAPSHOT_", "SLM_"))}


def test_the_job_sends_elastics_repository_and_policy_bodies(render: Render) -> None:
    env = snapshot_job_env(
        render, repository=S3_REPOSITORY, retention={"expireAfter": "14d", "minCount": 3, "maxCount": 20}
    )
    assert env["SNAPSHOT_REPOSITORY_NAME"] == "elk-stack"
    # elastic.co/docs/deploy-manage/tools/snapshot-and-restore/s3-repository: bucket, base_path.
    assert json.loads(env["SNAPSHOT_REPOSITORY"]) == {
        "type": "s3",
        "settings": {"bucket": "elk-backups", "base_path": "qa"},
    }
    # PUT _slm/policy/<id>: schedule, name, repository, config, retention (Elastic's API reference).
    assert json.loads(env["SLM_POLICY"]) == {
        "schedule": "0 30 1 * * ?",
        "name": "<elk-stack-{now/d}>",
        "repository": "elk-stack",
        "config": {"include_global_state": True},
        "retention": {"expire_after": "14d", "min_count": 3, "max_count": 20},
    }


@pytest.mark.parametrize(
    ("repository", "settings"),
    [
        ({"type": "gcs", "bucket": "elk-backups"}, {"bucket": "elk-backups"}),
        (
            {"type": "azure", "bucket": "elk-backups", "basePath": "qa", "credentialsSecret": "azure-key"},
            {"container": "elk-backups", "base_path": "qa"},
        ),
        (
            {"type": "fs", "basePath": "qa", "storage": {"size": "10Gi", "storageClass": "nfs"}},
            {"location": "/usr/share/elasticsearch/snapshots/qa"},
        ),
        ({**S3_REPOSITORY, "readonly": True}, {"bucket": "elk-backups", "base_path": "qa", "readonly": True}),
    ],
)
def test_each_type_gets_its_own_repository_settings(
    render: Render, repository: dict[str, Any], settings: dict[str, Any]
) -> None:
    env = snapshot_job_env(render, repository=repository)
    assert json.loads(env["SNAPSHOT_REPOSITORY"]) == {"type": repository["type"], "settings": settings}


def test_a_read_only_repository_gets_no_policy(render: Render) -> None:
    env = snapshot_job_env(render, repository={**S3_REPOSITORY, "readonly": True})
    assert "SLM_POLICY" not in env
    assert env["SLM_POLICY_NAME"] == "elk-stack-snapshots", "named, so an earlier one is removed"


REPOSITORY_BODY: dict[str, Any] = {"type": "s3", "settings": {"bucket": "elk-backups", "base_path": "qa"}}
POLICY_BODY = {
    "schedule": "0 30 1 * * ?",
    "name": "<elk-stack-{now/d}>",
    "repository": "elk-stack",
    "config": {"include_global_state": True},
    "retention": {"expire_after": "30d", "min_count": 5, "max_count": 50},
}
WITH_SNAPSHOTS = {"SNAPSHOT_REPOSITORY": json.dumps(REPOSITORY_BODY), "SLM_POLICY": json.dumps(POLICY_BODY)}


def snapshot_calls(es: FakeElasticsearch) -> list[tuple[str, str]]:
    return [(method, path) for method, path, _, _ in es.calls if path.startswith(("/_snapshot", "/_slm"))]


def test_setup_registers_verifies_and_schedules(fake_es: FakeElasticsearch) -> None:
    result = run_setup(fake_es, **WITH_SNAPSHOTS)
    assert result.returncode == 0, result.stderr
    assert snapshot_calls(fake_es) == [
        ("PUT", "/_snapshot/elk-stack"),
        ("POST", "/_snapshot/elk-stack/_verify?timeout=90s"),
        ("PUT", "/_slm/policy/elk-stack-snapshots"),
    ]
    assert fake_es.repositories == {"elk-stack": REPOSITORY_BODY}
    assert fake_es.slm_policies == {"elk-stack-snapshots": POLICY_BODY}
    assert "verifying snapshot repository elk-stack on every node" in result.stdout


def test_snapshot_setup_survives_reruns(fake_es: FakeElasticsearch) -> None:
    assert run_setup(fake_es, **WITH_SNAPSHOTS).returncode == 0
    state = (dict(fake_es.repositories), dict(fake_es.slm_policies))
    fake_es.calls.clear()
    rerun = run_setup(fake_es, **WITH_SNAPSHOTS)
    assert rerun.returncode == 0, rerun.stderr
    assert (fake_es.repositories, fake_es.slm_policies) == state
    assert [method for method, _ in snapshot_calls(fake_es)] == ["PUT", "POST", "PUT"], "upserts only"


def test_a_repository_that_fails_verification_fails_the_job_with_elastics_reason(
    fake_es: FakeElasticsearch,
) -> None:
    fake_es.verify_failure = "[elk-stack] path [qa] is not accessible on master node"
    result = run_setup(fake_es, **WITH_SNAPSHOTS)
    assert result.returncode != 0
    assert (
        "POST /_snapshot/elk-stack/_verify?timeout=90s refused: HTTP 500: "
        '{"error":{"type":"repository_verification_exception"'
    ) in result.stderr
    assert "is not accessible on master node" in result.stderr
    assert not fake_es.slm_policies, "no policy against a repository the nodes cannot use"


def test_a_policy_without_its_repository_is_refused_with_the_reason(fake_es: FakeElasticsearch) -> None:
    """The fake refuses as Elasticsearch does; the script logs the reason (issue 11 point 10)."""
    policy = {**POLICY_BODY, "repository": "elsewhere"}
    result = run_setup(fake_es, **{**WITH_SNAPSHOTS, "SLM_POLICY": json.dumps(policy)})
    assert result.returncode != 0
    assert "PUT /_slm/policy/elk-stack-snapshots refused: HTTP 400:" in result.stderr
    assert "no such repository [elsewhere]" in result.stderr


def test_a_read_only_repository_removes_the_policy_an_earlier_config_installed(
    fake_es: FakeElasticsearch,
) -> None:
    assert run_setup(fake_es, **WITH_SNAPSHOTS).returncode == 0
    readonly = {"type": "s3", "settings": {**REPOSITORY_BODY["settings"], "readonly": True}}
    fake_es.calls.clear()
    result = run_setup(fake_es, SNAPSHOT_REPOSITORY=json.dumps(readonly))
    assert result.returncode == 0, result.stderr
    assert fake_es.repositories == {"elk-stack": readonly}
    assert fake_es.slm_policies == {}
    assert ("DELETE", "/_slm/policy/elk-stack-snapshots") in snapshot_calls(fake_es)


def test_removed_snapshots_unregister_the_repository_and_delete_the_policy(
    fake_es: FakeElasticsearch,
) -> None:
    assert run_setup(fake_es, **WITH_SNAPSHOTS).returncode == 0
    fake_es.calls.clear()
    result = run_setup(fake_es)
    assert result.returncode == 0, result.stderr
    assert snapshot_calls(fake_es) == [
        ("GET", "/_slm/policy/elk-stack-snapshots"),
        ("DELETE", "/_slm/policy/elk-stack-snapshots"),
        ("GET", "/_snapshot/elk-stack"),
        ("DELETE", "/_snapshot/elk-stack"),
    ]
    assert fake_es.repositories == {}
    assert fake_es.slm_policies == {}


def test_a_refused_existence_check_fails_with_its_reason(fake_es: FakeElasticsearch) -> None:
    """Only a 404 means "absent": a 401 or 403 must not be read as "nothing to remove"."""
    fake_es.refuse = "/_slm/policy/"
    fake_es.refusal_reason = "action [cluster:admin/slm/get] is unauthorized"
    result = run_setup(fake_es)
    assert result.returncode != 0
    assert "GET /_slm/policy/elk-stack-snapshots refused: HTTP 401:" in result.stderr
    assert "cluster:admin/slm/get] is unauthorized" in result.stderr


# --- the snapshot before a change (issue 12): the setup script's snapshot mode ----------


def run_snapshot_job(es: FakeElasticsearch, **overrides: str) -> subprocess.CompletedProcess[str]:
    """The script as the snapshot Job runs it: only the client wiring and the change."""
    env = {
        "PATH": os.environ["PATH"],
        "ES_URL": es.url,
        "SETUP_USERNAME": "elk-stack-setup",
        "SETUP_PASSWORD": "setup-pw",
        "SNAPSHOT_REPOSITORY_NAME": "elk-stack",
        "SNAPSHOT_BEFORE_CHANGE": "before-9.4.4-0123456789",
        "TARGET_VERSION": "9.4.4",
        "NODE_NAMES": "^(elk-elasticsearch-master|elk-elasticsearch-data)-[0-9]+$",
        "WAIT_ATTEMPTS": "5",
        "WAIT_SECONDS": "0",
        "SNAPSHOT_POLL_SECONDS": "0",
        **overrides,
    }
    return subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def with_repository(es: FakeElasticsearch) -> FakeElasticsearch:
    es.repositories["elk-stack"] = REPOSITORY_BODY
    return es


SNAPSHOT_PATH = "/_snapshot/elk-stack/before-9.4.4-0123456789"


def test_no_snapshot_when_every_node_already_runs_the_target(fake_es: FakeElasticsearch) -> None:
    """A first deploy, or a re-run after the change: nothing will restart, nothing to protect."""
    fake_es.nodes = ["elk-elasticsearch-master-0 9.4.4", "elk-elasticsearch-data-0 9.4.4"]
    result = run_snapshot_job(with_repository(fake_es))
    assert result.returncode == 0, result.stderr
    assert "nothing to snapshot" in result.stdout
    assert [(m, p) for m, p, _, _ in fake_es.calls] == [
        ("GET", "/_cluster/health?wait_for_status=yellow&timeout=5s"),
        ("GET", "/_cat/nodes?h=name,version"),
    ]
    assert {auth for _, _, auth, _ in fake_es.calls} == {SETUP_AUTH}


def test_a_version_change_takes_a_snapshot_and_waits_for_it(fake_es: FakeElasticsearch) -> None:
    fake_es.nodes = ["elk-elasticsearch-master-0 9.4.3", "elk-elasticsearch-data-0 9.4.3"]
    fake_es.snapshot_states = ["IN_PROGRESS", "IN_PROGRESS", "SUCCESS"]
    result = run_snapshot_job(with_repository(fake_es))
    assert result.returncode == 0, result.stderr
    assert (
        "about to change: elk-elasticsearch-master-0 (9.4.3) elk-elasticsearch-data-0 (9.4.3)"
        in result.stdout
    )
    calls = [(m, p) for m, p, _, _ in fake_es.calls if p.startswith("/_snapshot")]
    assert calls == [
        ("GET", "/_snapshot/elk-stack"),
        ("GET", SNAPSHOT_PATH),
        ("PUT", SNAPSHOT_PATH),
        ("GET", SNAPSHOT_PATH),
        ("GET", SNAPSHOT_PATH),
        ("GET", SNAPSHOT_PATH),
    ]
    # Elastic's create snapshot API: the cluster state with its feature states (Kibana's saved objects).
    assert fake_es.snapshots["before-9.4.4-0123456789"]["request"] == {
        "include_global_state": True,
        "metadata": {"taken_by": "elk-stack", "reason": "before a change"},
    }
    assert "snapshot before-9.4.4-0123456789 succeeded" in result.stdout


def test_a_removed_node_set_takes_a_snapshot(fake_es: FakeElasticsearch) -> None:
    """Same version, but a node of a set no longer declared: it is about to be deleted."""
    fake_es.nodes = ["elk-elasticsearch-master-0 9.4.4", "elk-elasticsearch-warm-0 9.4.4"]
    result = run_snapshot_job(with_repository(fake_es))
    assert result.returncode == 0, result.stderr
    assert "about to change: elk-elasticsearch-warm-0 (9.4.4)" in result.stdout
    assert "before-9.4.4-0123456789" in fake_es.snapshots


def test_a_failed_snapshot_fails_the_job_with_its_answer(fake_es: FakeElasticsearch) -> None:
    fake_es.nodes = ["elk-elasticsearch-master-0 9.4.3"]
    fake_es.snapshot_states = ["IN_PROGRESS", "FAILED"]
    result = run_snapshot_job(with_repository(fake_es))
    assert result.returncode == 1
    assert "snapshot before-9.4.4-0123456789 ended FAILED: " in result.stderr
    assert '"state":"FAILED"' in result.stderr
    assert "The deploy stops here: no Elasticsearch pod has been touched." in result.stderr


def test_a_partial_snapshot_is_a_failure(fake_es: FakeElasticsearch) -> None:
    """PARTIAL means some shards are not in it: not a snapshot to upgrade on."""
    fake_es.nodes = ["elk-elasticsearch-master-0 9.4.3"]
    fake_es.snapshot_states = ["PARTIAL"]
    result = run_snapshot_job(with_repository(fake_es))
    assert result.returncode == 1
    assert "ended PARTIAL" in result.stderr


def test_a_snapshot_that_never_ends_fails_after_the_budget(fake_es: FakeElasticsearch) -> None:
    fake_es.nodes = ["elk-elasticsearch-master-0 9.4.3"]
    fake_es.snapshot_states = ["IN_PROGRESS"] * 10
    result = run_snapshot_job(with_repository(fake_es), SNAPSHOT_POLL_ATTEMPTS="3")
    assert result.returncode == 1
    assert "still IN_PROGRESS after 3 checks" in result.stderr


def test_without_the_repository_the_job_says_what_to_do(fake_es: FakeElasticsearch) -> None:
    fake_es.nodes = ["elk-elasticsearch-master-0 9.4.3"]
    result = run_snapshot_job(fake_es)
    assert result.returncode == 1
    assert "repository elk-stack is not registered" in result.stderr
    assert "elasticsearch.snapshots.beforeUpgrade false" in result.stderr
    assert not fake_es.snapshots


def test_a_rerun_waits_for_its_snapshot_instead_of_taking_another(fake_es: FakeElasticsearch) -> None:
    fake_es.nodes = ["elk-elasticsearch-master-0 9.4.3"]
    assert run_snapshot_job(with_repository(fake_es)).returncode == 0
    fake_es.calls.clear()
    rerun = run_snapshot_job(fake_es)
    assert rerun.returncode == 0, rerun.stderr
    assert ("PUT", SNAPSHOT_PATH) not in [(m, p) for m, p, _, _ in fake_es.calls]


def test_a_refused_snapshot_request_is_logged_with_the_reason(fake_es: FakeElasticsearch) -> None:
    fake_es.nodes = ["elk-elasticsearch-master-0 9.4.3"]
    fake_es.refuse = SNAPSHOT_PATH
    fake_es.refusal_reason = "action [cluster:admin/snapshot/create] is unauthorized"
    result = run_snapshot_job(with_repository(fake_es))
    assert result.returncode != 0
    assert f"GET {SNAPSHOT_PATH} refused: HTTP 401:" in result.stderr
    assert "cluster:admin/snapshot/create] is unauthorized" in result.stderr
