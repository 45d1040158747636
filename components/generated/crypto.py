"""Pure functions that make the stack's generated secrets: passwords, keys, certificates.

They do what pulumi-random and pulumi-tls did, whose provider plugins cannot be installed
everywhere this program runs; `components/generated/__init__.py` wraps them in dynamic resources.
Every input, the current time included, is an argument, so each function is easy to test;
only key material, passwords and serial numbers are random.
"""

from __future__ import annotations

import ipaddress
import secrets
import string
from collections.abc import Sequence
from datetime import datetime, timedelta

import bcrypt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PASSWORD_ALPHABET = string.ascii_letters + string.digits
RSA_PUBLIC_EXPONENT = 65537
ECDSA_P256 = "ECDSA-P256"
RSA = "RSA"
KEY_ALGORITHMS = (ECDSA_P256, RSA)
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
# Elasticsearch's file realm reads bcrypt hashes with the `$2a$` prefix (its BCrypt is
# jBCrypt, which knows no other revision); 10 rounds is its own default cost.
BCRYPT_PREFIX = b"2a"
BCRYPT_ROUNDS = 10


def password(length: int) -> str:
    """Letters and digits from `secrets`: nothing to escape in YAML, JSON, URLs or shell."""
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))


def bcrypt_hash(secret: str) -> str:
    """A salted bcrypt hash of `secret`, as a line of Elasticsearch's file realm `users` file stores it."""
    salt = bcrypt.gensalt(rounds=BCRYPT_ROUNDS, prefix=BCRYPT_PREFIX)
    return bcrypt.hashpw(secret.encode(), salt).decode()


def rsa_private_key_pem(bits: int) -> str:
    """A new RSA key in PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`), the form pulumi-tls wrote."""
    key = rsa.generate_private_key(public_exponent=RSA_PUBLIC_EXPONENT, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def ec_private_key_pem() -> str:
    """A new ECDSA P-256 key in PKCS#8 PEM (`BEGIN PRIVATE KEY`), the form Java and Node.js both read.

    P-256 is as strong as RSA 3072 and takes about a millisecond to make where RSA 3072
    takes a third of a second, on the path every StatefulSet waits on.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def private_key_pem(algorithm: str, rsa_bits: int) -> str:
    """A new key of `algorithm` (one of KEY_ALGORITHMS); `rsa_bits` sizes an RSA key only."""
    if algorithm == ECDSA_P256:
        return ec_private_key_pem()
    if algorithm == RSA:
        return rsa_private_key_pem(rsa_bits)
    raise ValueError(f"unknown key algorithm {algorithm!r}; expected one of {', '.join(KEY_ALGORITHMS)}")


def _load_private_key(pem: str) -> PrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("expected an RSA or EC private key")
    return key


def distinguished_name(common_name: str, organization: str) -> x509.Name:
    """The subject of a certificate: `CN=<common_name>, O=<organization>`."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, digital_signature: bool, key_encipherment: bool, signing: bool) -> x509.KeyUsage:
    """Key usage with only the named bits; `signing` covers certificates and CRLs."""
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signing,
        crl_sign=signing,
        encipher_only=False,
        decipher_only=False,
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, key: PublicKey, validity_hours: int, now: datetime
) -> x509.CertificateBuilder:
    """What every certificate here has: a random serial, validity from `now`, a key identifier."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(hours=validity_hours))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False)
    )


def ca_certificate_pem(
    private_key_pem: str, *, common_name: str, organization: str, validity_hours: int, now: datetime
) -> str:
    """A self-signed CA certificate that may sign leaf certificates (and CRLs), nothing else."""
    key = _load_private_key(private_key_pem)
    subject = distinguished_name(common_name, organization)
    certificate = (
        _builder(subject, subject, key.public_key(), validity_hours, now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            _key_usage(digital_signature=True, key_encipherment=False, signing=True), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _subject_alternative_names(
    dns_names: Sequence[str], ip_addresses: Sequence[str]
) -> x509.SubjectAlternativeName:
    general_names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    general_names += [x509.IPAddress(ipaddress.ip_address(address)) for address in ip_addresses]
    return x509.SubjectAlternativeName(general_names)


def leaf_certificate_pem(
    private_key_pem: str,
    *,
    ca_cert_pem: str,
    ca_private_key_pem: str,
    common_name: str,
    organization: str,
    dns_names: Sequence[str],
    ip_addresses: Sequence[str],
    validity_hours: int,
    now: datetime,
) -> str:
    """A certificate signed by the CA for TLS servers and clients alike, as Elasticsearch nodes are."""
    ca_key = _load_private_key(ca_private_key_pem)
    ca_certificate = x509.load_pem_x509_certificate(ca_cert_pem.encode())
    key = _load_private_key(private_key_pem).public_key()
    subject = distinguished_name(common_name, organization)
    certificate = (
        _builder(subject, ca_certificate.subject, key, validity_hours, now)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            # Key encipherment is RSA key exchange's; an EC key only signs (RFC 5480, section 3).
            _key_usage(
                digital_signature=True, key_encipherment=isinstance(key, rsa.RSAPublicKey), signing=False
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(_subject_alternative_names(dns_names, ip_addresses), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def renewal_due(cert_pem: str, early_renewal_hours: float, now: datetime) -> bool:
    """Whether `now` is inside the renewal window that ends the certificate's life."""
    not_after = x509.load_pem_x509_certificate(cert_pem.encode()).not_valid_after_utc
    return now >= not_after - timedelta(hours=early_renewal_hours)


# However long the renewal window, a certificate this close to expiry gets a warning.
EXPIRY_WARNING_DAYS = 30
# How long before a CA's renewal window opens the preview asks for a rotation in steps.
CA_ROTATION_NOTICE_DAYS = 90
PEM_CERTIFICATE_HEADER = "-----BEGIN CERTIFICATE-----"


def is_certificate_pem(text: str) -> bool:
    """Whether `text` is a PEM certificate, not a stand-in (the offline render's mocks return those)."""
    return text.lstrip().startswith(PEM_CERTIFICATE_HEADER)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def expiry_warning(name: str, cert_pem: str, early_renewal_hours: float, now: datetime) -> str | None:
    """One line for a certificate that has expired, is inside its renewal window or expires within 30 days.

    A certificate inside its window is replaced by the next `pulumi up` (the providers'
    `diff`), so the line says that; one outside it but close to expiry is renewed only by
    an update once the window opens, so the line names that date. None when all is well.
    """
    not_after = x509.load_pem_x509_certificate(cert_pem.encode()).not_valid_after_utc
    renewal_from = not_after - timedelta(hours=early_renewal_hours)
    if now >= not_after:
        return f"certificate {name} expired on {_when(not_after)}: the next `pulumi up` replaces it"
    if now >= renewal_from:
        return (
            f"certificate {name} expires on {_when(not_after)} and is inside its renewal window "
            f"(from {_when(renewal_from)}): the next `pulumi up` replaces it"
        )
    if now >= not_after - timedelta(days=EXPIRY_WARNING_DAYS):
        return (
            f"certificate {name} expires on {_when(not_after)}, within {EXPIRY_WARNING_DAYS} days; "
            f"a `pulumi up` from {_when(renewal_from)}, when its renewal window opens, replaces it"
        )
    return None


def ca_rotation_notice(name: str, cert_pem: str, early_renewal_hours: float, now: datetime) -> str | None:
    """One line for a CA whose renewal window opens within 90 days; None before and inside it.

    Renewed by its window, a CA is replaced in one `pulumi up` together with every
    certificate it signed, and nodes restarted early and late then distrust each other
    until all have restarted. Three `up`s with an overlap avoid that, if someone starts them
    in time; inside the window `expiry_warning` speaks instead.
    """
    not_after = x509.load_pem_x509_certificate(cert_pem.encode()).not_valid_after_utc
    renewal_from = not_after - timedelta(hours=early_renewal_hours)
    if not renewal_from - timedelta(days=CA_ROTATION_NOTICE_DAYS) <= now < renewal_from:
        return None
    return (
        f"certificate {name} expires on {_when(not_after)}; from {_when(renewal_from)} a `pulumi up` "
        "replaces it and every certificate it signed at once: rotate it in three steps before then "
        "(elasticsearch.tls.caGeneration, docs/security.md#rotating-the-ca)"
    )
