"""The generated secrets themselves: passwords, keys, and certificates a TLS client accepts."""

from __future__ import annotations

import socket
import ssl
import string
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from components.generated import crypto
from tools.render import Rendered

NOW = datetime(2030, 1, 1, tzinfo=UTC)
BITS = 2048
NODE_NAMES = ["elk-elasticsearch", "elk-elasticsearch.elk-unit.svc", "localhost"]


@pytest.fixture(scope="module")
def ca_key() -> str:
    return crypto.rsa_private_key_pem(BITS)


@pytest.fixture(scope="module")
def ca_pem(ca_key: str) -> str:
    return crypto.ca_certificate_pem(
        ca_key, common_name="elk-stack CA", organization="elk-stack", validity_hours=24 * 3650, now=NOW
    )


@pytest.fixture(scope="module")
def node_key() -> str:
    return crypto.rsa_private_key_pem(BITS)


def leaf(node_key: str, ca_pem: str, ca_key: str, validity_hours: int = 24 * 365) -> str:
    return crypto.leaf_certificate_pem(
        node_key,
        ca_cert_pem=ca_pem,
        ca_private_key_pem=ca_key,
        common_name="elk-elasticsearch",
        organization="elk-stack",
        dns_names=NODE_NAMES,
        ip_addresses=["127.0.0.1"],
        validity_hours=validity_hours,
        now=NOW,
    )


@pytest.fixture(scope="module")
def node_pem(node_key: str, ca_pem: str, ca_key: str) -> str:
    return leaf(node_key, ca_pem, ca_key)


def load(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def public_numbers(private_key_pem: str) -> rsa.RSAPublicNumbers:
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.public_key().public_numbers()


def certificate_numbers(pem: str) -> rsa.RSAPublicNumbers:
    key = load(pem).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    return key.public_numbers()


def verifier_store(ca_pem: str) -> PolicyBuilder:
    return PolicyBuilder().store(Store([load(ca_pem)])).time(NOW + timedelta(days=1))


# --- passwords ----------------------------------------------------------------------


@pytest.mark.parametrize("length", [16, 32, 48])
def test_password_has_the_length_and_only_letters_and_digits(length: int) -> None:
    password = crypto.password(length)
    assert len(password) == length
    assert set(password) <= set(string.ascii_letters + string.digits)


def test_password_draws_from_the_whole_alphabet() -> None:
    password = crypto.password(2000)
    for characters in (string.ascii_lowercase, string.ascii_uppercase, string.digits):
        assert set(password) & set(characters)


def test_passwords_differ() -> None:
    assert crypto.password(32) != crypto.password(32)


# --- keys ---------------------------------------------------------------------------


def test_private_key_is_rsa_of_the_requested_size_in_pkcs1_pem(ca_key: str) -> None:
    assert ca_key.startswith("-----BEGIN RSA PRIVATE KEY-----")
    key = serialization.load_pem_private_key(ca_key.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == BITS


# --- the CA -------------------------------------------------------------------------


def test_ca_is_self_signed_with_its_own_key(ca_pem: str, ca_key: str) -> None:
    ca = load(ca_pem)
    ca.verify_directly_issued_by(ca)
    assert certificate_numbers(ca_pem) == public_numbers(ca_key)
    assert ca.subject == ca.issuer


def test_ca_subject_names_the_stack(ca_pem: str) -> None:
    subject = load(ca_pem).subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "elk-stack CA"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "elk-stack"


def test_ca_may_sign_certificates_and_nothing_else(ca_pem: str) -> None:
    ca = load(ca_pem)
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and usage.digital_signature
    assert not usage.key_encipherment
    with pytest.raises(x509.ExtensionNotFound):
        ca.extensions.get_extension_for_class(x509.ExtendedKeyUsage)


def test_ca_validity_starts_now_and_lasts_its_hours(ca_pem: str) -> None:
    ca = load(ca_pem)
    assert ca.not_valid_before_utc == NOW
    assert ca.not_valid_after_utc == NOW + timedelta(hours=24 * 3650)


def usage(*bits: str) -> x509.KeyUsage:
    """A KeyUsage with exactly the named bits."""
    names = ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment"]
    names += ["key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"]
    return x509.KeyUsage(**{name: name in bits for name in names})


def test_every_extension_has_exactly_its_value_and_criticality(ca_pem: str, node_pem: str) -> None:
    """Verifiers must honour the constraints (critical); names and purposes may be read leniently."""

    def extensions(pem: str) -> dict[str, tuple[bool, x509.ExtensionType]]:
        return {type(e.value).__name__: (e.critical, e.value) for e in load(pem).extensions}

    ca, node = extensions(ca_pem), extensions(node_pem)
    assert ca["BasicConstraints"] == (True, x509.BasicConstraints(ca=True, path_length=0))
    assert ca["KeyUsage"] == (True, usage("digital_signature", "key_cert_sign", "crl_sign"))
    assert node["BasicConstraints"] == (True, x509.BasicConstraints(ca=False, path_length=None))
    assert node["KeyUsage"] == (True, usage("digital_signature", "key_encipherment"))
    assert node["ExtendedKeyUsage"][0] is False
    assert node["SubjectAlternativeName"][0] is False
    assert sorted(node) == [
        "AuthorityKeyIdentifier",
        "BasicConstraints",
        "ExtendedKeyUsage",
        "KeyUsage",
        "SubjectAlternativeName",
        "SubjectKeyIdentifier",
    ]


def test_only_rsa_and_ec_keys_are_accepted() -> None:
    other = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match=r"^expected an RSA or EC private key$"):
        crypto.ca_certificate_pem(
            other.decode(), common_name="CA", organization="elk-stack", validity_hours=1, now=NOW
        )


def test_an_ec_key_is_p256_in_pkcs8_pem() -> None:
    pem = crypto.private_key_pem(crypto.ECDSA_P256, rsa_bits=BITS)
    assert pem.startswith("-----BEGIN PRIVATE KEY-----\n")
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.curve.name == "secp256r1"


def test_an_rsa_key_is_sized_by_its_bits() -> None:
    key = serialization.load_pem_private_key(crypto.private_key_pem(crypto.RSA, rsa_bits=BITS).encode(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == BITS


def test_an_unknown_key_algorithm_is_named() -> None:
    with pytest.raises(ValueError, match=r"^unknown key algorithm 'DSA'; expected one of ECDSA-P256, RSA$"):
        crypto.private_key_pem("DSA", rsa_bits=BITS)


def test_an_ec_node_certificate_signs_but_does_not_encipher(ca_pem: str, ca_key: str) -> None:
    """Key encipherment is RSA key exchange's; an EC certificate claiming it is malformed (RFC 5480)."""
    node = load(leaf(crypto.ec_private_key_pem(), ca_pem, ca_key))
    usage = node.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_encipherment and not usage.key_cert_sign


def test_node_certificate_is_signed_by_the_ca(node_pem: str, ca_pem: str) -> None:
    node = load(node_pem)
    node.verify_directly_issued_by(load(ca_pem))
    assert node.issuer == load(ca_pem).subject


def test_node_certificate_does_not_verify_against_another_ca(node_pem: str, node_key: str) -> None:
    other = crypto.ca_certificate_pem(
        node_key, common_name="elk-stack CA", organization="elk-stack", validity_hours=24, now=NOW
    )
    with pytest.raises(InvalidSignature):
        load(node_pem).verify_directly_issued_by(load(other))


def test_node_certificate_holds_the_node_key(node_pem: str, node_key: str) -> None:
    assert certificate_numbers(node_pem) == public_numbers(node_key)


def test_node_certificate_names_its_dns_names_and_loopback(node_pem: str) -> None:
    names = load(node_pem).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == NODE_NAMES
    assert names.get_values_for_type(x509.IPAddress) == [IPv4Address("127.0.0.1")]


def test_node_certificate_serves_and_authenticates_tls(node_pem: str) -> None:
    node = load(node_pem)
    usage = node.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment and not usage.key_cert_sign
    extended = node.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(extended) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not node.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


@pytest.mark.parametrize(
    "name",
    [
        x509.DNSName("elk-elasticsearch.elk-unit.svc"),
        x509.DNSName("localhost"),
        x509.IPAddress(IPv4Address("127.0.0.1")),
    ],
)
def test_a_tls_client_accepts_the_node_for_its_names(
    node_pem: str, ca_pem: str, name: x509.DNSName | x509.IPAddress
) -> None:
    verifier = verifier_store(ca_pem).build_server_verifier(name)
    chain = verifier.verify(load(node_pem), [])
    assert chain[-1] == load(ca_pem)


def test_a_tls_client_rejects_the_node_for_another_name(node_pem: str, ca_pem: str) -> None:
    verifier = verifier_store(ca_pem).build_server_verifier(x509.DNSName("elk-kibana.elk-unit.svc"))
    with pytest.raises(VerificationError):
        verifier.verify(load(node_pem), [])


def test_a_tls_server_accepts_the_node_as_a_client(node_pem: str, ca_pem: str) -> None:
    verified = verifier_store(ca_pem).build_client_verifier().verify(load(node_pem), [])
    assert verified.chain[-1] == load(ca_pem)


# --- renewal ------------------------------------------------------------------------


@pytest.mark.parametrize(("hours_later", "due"), [(0, False), (89, False), (90, True), (200, True)])
def test_renewal_is_due_from_the_start_of_the_window(
    node_key: str, ca_pem: str, ca_key: str, hours_later: int, due: bool
) -> None:
    certificate = leaf(node_key, ca_pem, ca_key, validity_hours=100)
    assert crypto.renewal_due(certificate, 10, NOW + timedelta(hours=hours_later)) is due


@pytest.mark.parametrize(("seconds", "due"), [(-1, False), (0, True), (1, True)])
@pytest.mark.parametrize("certificate_type", ["CertificateAuthority", "LeafCertificate"])
def test_renewal_is_due_from_the_exact_second_the_stack_window_opens(
    rendered_stacks: dict[str, Rendered],
    node_key: str,
    ca_pem: str,
    ca_key: str,
    certificate_type: str,
    seconds: int,
    due: bool,
) -> None:
    """The qa stack's own validity and early renewal: due at validity - earlyRenewal, not a second before."""
    # The node's certificate (the stack also issues Kibana's, with the same settings).
    [inputs] = [
        r["inputs"]
        for r in rendered_stacks["qa"].resources
        if r["type"] == f"pulumi-python:dynamic/elk-stack:{certificate_type}" and "kibana" not in r["name"]
    ]
    validity, early = inputs["validity_hours"], inputs["early_renewal_hours"]
    assert 0 < early < validity
    certificate = leaf(node_key, ca_pem, ca_key, validity_hours=validity)
    opens = NOW + timedelta(hours=validity - early)
    assert crypto.renewal_due(certificate, early, opens + timedelta(seconds=seconds)) is due


# --- mutual TLS, as between Elasticsearch nodes -----------------------------------------


@pytest.mark.parametrize(
    ("ca_algorithm", "node_algorithm"),
    # EC throughout is a new stack's; an RSA CA signing an EC node, a stack made with RSA
    # keys that has since added or renewed a node; RSA throughout, such a stack unchanged.
    [(crypto.ECDSA_P256, crypto.ECDSA_P256), (crypto.RSA, crypto.ECDSA_P256), (crypto.RSA, crypto.RSA)],
)
def test_two_nodes_authenticate_each_other_with_the_node_certificate(
    tmp_path: Path, ca_algorithm: str, node_algorithm: str
) -> None:
    """Transport TLS: each node is server and client with one certificate, verified against the CA.

    OpenSSL refuses a client certificate whose extended key usage lacks clientAuth.
    """
    now = datetime.now(UTC) - timedelta(minutes=1)
    ca_key = crypto.private_key_pem(ca_algorithm, BITS)
    ca = crypto.ca_certificate_pem(
        ca_key, common_name="CA", organization="elk-stack", validity_hours=24, now=now
    )
    node_key = crypto.private_key_pem(node_algorithm, BITS)
    node = crypto.leaf_certificate_pem(
        node_key,
        ca_cert_pem=ca,
        ca_private_key_pem=ca_key,
        common_name="elk-elasticsearch",
        organization="elk-stack",
        dns_names=NODE_NAMES,
        ip_addresses=["127.0.0.1"],
        validity_hours=24,
        now=now,
    )
    for name, text in (("ca.crt", ca), ("tls.crt", node), ("tls.key", node_key)):
        (tmp_path / name).write_text(text)

    def context(purpose: int) -> ssl.SSLContext:
        result = ssl.SSLContext(purpose)
        result.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
        result.load_verify_locations(tmp_path / "ca.crt")
        result.verify_mode = ssl.CERT_REQUIRED
        result.check_hostname = False  # transport verification_mode: certificate
        return result

    server_end, client_end = socket.socketpair()
    server_end.settimeout(30)
    client_end.settimeout(30)
    with ThreadPoolExecutor(1) as pool, server_end, client_end:
        accepting = pool.submit(context(ssl.PROTOCOL_TLS_SERVER).wrap_socket, server_end, server_side=True)
        with context(ssl.PROTOCOL_TLS_CLIENT).wrap_socket(client_end) as client:
            with accepting.result(timeout=30) as server:
                client.sendall(b"ping")
                assert server.recv(4) == b"ping"
                peer = server.getpeercert(binary_form=True)
                assert peer is not None, "the server verified a client certificate"
                assert x509.load_der_x509_certificate(peer) == load(node)
            assert client.getpeercert(binary_form=True) == load(node).public_bytes(serialization.Encoding.DER)


# --- expiry warnings ----------------------------------------------------------------

DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def year_pem(node_key: str, ca_pem: str, ca_key: str) -> str:
    """Valid from NOW for 365 days: expires on 2031-01-01 00:00 UTC."""
    return leaf(node_key, ca_pem, ca_key)


def test_no_warning_long_before_expiry(year_pem: str) -> None:
    assert crypto.expiry_warning("elk-elasticsearch-0", year_pem, 7 * 24, NOW) is None


@pytest.mark.parametrize(("seconds", "warned"), [(-1, False), (0, True), (1, True)])
def test_warning_from_exactly_30_days_before_expiry(year_pem: str, seconds: int, warned: bool) -> None:
    """A renewal window of 7 days: the 30-day warning comes first, and names both dates."""
    at = NOW + 335 * DAY + timedelta(seconds=seconds)
    warning = crypto.expiry_warning("elk-elasticsearch-0", year_pem, 7 * 24, at)
    assert (warning is not None) is warned
    if warning is not None:
        assert warning == (
            "certificate elk-elasticsearch-0 expires on 2031-01-01 00:00 UTC, within 30 days; "
            "a `pulumi up` from 2030-12-25 00:00 UTC, when its renewal window opens, replaces it"
        )


@pytest.mark.parametrize(("seconds", "inside"), [(-1, False), (0, True), (1, True)])
def test_inside_the_renewal_window_the_warning_says_the_next_up_replaces_it(
    year_pem: str, seconds: int, inside: bool
) -> None:
    at = NOW + 358 * DAY + timedelta(seconds=seconds)
    warning = crypto.expiry_warning("elk-elasticsearch-0", year_pem, 7 * 24, at)
    assert warning is not None
    assert ("inside its renewal window" in warning) is inside
    if inside:
        assert warning == (
            "certificate elk-elasticsearch-0 expires on 2031-01-01 00:00 UTC and is inside its renewal "
            "window (from 2030-12-25 00:00 UTC): the next `pulumi up` replaces it"
        )


def test_a_window_longer_than_30_days_warns_from_its_start(year_pem: str) -> None:
    """The CA's window is ten times the node's: 300 days of a 3650-day life, say."""
    assert crypto.expiry_warning("elk-stack CA", year_pem, 60 * 24, NOW + 304 * DAY) is None
    warning = crypto.expiry_warning("elk-stack CA", year_pem, 60 * 24, NOW + 305 * DAY)
    assert warning is not None and "certificate elk-stack CA" in warning and "renewal window" in warning


@pytest.mark.parametrize(("day", "noticed"), [(214, False), (215, True), (304, True), (305, False)], ids=str)
def test_a_ca_rotation_is_asked_for_in_the_90_days_before_the_window(
    year_pem: str, day: int, noticed: bool
) -> None:
    """A 60-day window opens on day 305 of 365; from then `expiry_warning` speaks instead."""
    notice = crypto.ca_rotation_notice("elk-stack CA", year_pem, 60 * 24, NOW + day * DAY)
    assert (notice is not None) == noticed
    if notice is not None:
        assert notice.startswith(
            "certificate elk-stack CA expires on 2031-01-01 00:00 UTC; "
            "from 2030-11-02 00:00 UTC a `pulumi up`"
        )


@pytest.mark.parametrize("after", [timedelta(0), DAY])
def test_an_expired_certificate_is_named_as_expired(year_pem: str, after: timedelta) -> None:
    warning = crypto.expiry_warning("elk-elasticsearch-0", year_pem, 7 * 24, NOW + 365 * DAY + after)
    assert warning == (
        "certificate elk-elasticsearch-0 expired on 2031-01-01 00:00 UTC: the next `pulumi up` replaces it"
    )


def test_only_pem_certificates_are_checked(year_pem: str) -> None:
    assert crypto.is_certificate_pem(year_pem)
    assert not crypto.is_certificate_pem("mock-certificate-0123456789abcdef01234567")
