"""The setup script over TLS, as the Job runs it: it trusts its CA and no other, and waits as documented."""

from __future__ import annotations

import http.server
import os
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from components.generated import CertificateAuthorityProvider, LeafCertificateProvider
from tests.conftest import find
from tests.fake_elasticsearch import TEMPLATE, FakeElasticsearch, needs_bash_and_curl, run_setup, serve
from tools.render import PROJECT_DIR, Rendered

pytestmark = needs_bash_and_curl


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
        if r["type"].startswith("pulumi-python:dynamic/") and "kibana" not in r["name"]
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
