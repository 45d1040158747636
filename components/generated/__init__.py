"""Dynamic resources for generated secrets: passwords, a private CA and the certificates it signs.

They replace pulumi-random and pulumi-tls, whose provider plugins cannot be installed
where this program runs. A dynamic provider runs in `pulumi-resource-pulumi-python`, which
ships with every Pulumi CLI. Values are generated once, kept (encrypted) in Pulumi state
and replaced only when an input changes or a certificate enters its renewal window; `read`
returns the state unchanged, as there is nowhere to read the material back from.

The provider classes live in this importable module, never in `__main__`, on purpose: dill
pickles them by reference (`components.generated.PasswordProvider`), not by value, so the
serialized `__provider` input carries no code and stays the same across code edits. The
provider process imports this module from its working directory, the project directory.
The crypto itself is in `components/generated/crypto.py`, as plain functions.
"""

from __future__ import annotations

import pickle
import secrets
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)
from pulumi.runtime import rpc

from components.generated import crypto

MODULE = "elk-stack"
MIN_PASSWORD_LENGTH = 16
MIN_RSA_BITS = 2048
MAX_BCRYPT_BYTES = 72


# pulumi's `serialize_provider` (pulumi/dynamic/dynamic.py, 3.272.0) replaces pickle's
# `_Pickler._batch_setitems` with a sorting wrapper around the current one on every call and
# never puts it back: each dynamic resource adds a layer, and once a process has made a few
# hundred (a large cluster's certificates, a test session's renders), pickling a provider
# exceeds the recursion limit (RecursionError, as in pulumi/pulumi#17803). `DynamicResource`,
# the base of every dynamic resource here, puts the original back first, so the SDK always
# wraps it exactly once.
_PRISTINE_BATCH_SETITEMS = pickle._Pickler._batch_setitems  # type: ignore[attr-defined]


def undo_sdk_pickler_patch() -> None:
    """Restore the pickler method the SDK's previous `serialize_provider` call left wrapped."""
    setattr(pickle._Pickler, "_batch_setitems", _PRISTINE_BATCH_SETITEMS)  # noqa: B010


class DynamicResource(Resource):
    """A dynamic resource whose registration never stacks another pickler wrapper."""

    def __init__(
        self,
        provider: ResourceProvider,
        name: str,
        props: dict[str, Any],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        undo_sdk_pickler_patch()
        super().__init__(provider, name, props, opts)


def changed_inputs(olds: dict[str, Any], news: dict[str, Any], keys: Sequence[str]) -> list[str]:
    """The inputs whose new value differs from the stored one (an unknown value counts as changed)."""
    return [key for key in keys if olds.get(key) != news.get(key)]


def _secret_outputs(opts: pulumi.ResourceOptions | None, *names: str) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=list(names)))


def _number(news: dict[str, Any], key: str) -> float | None:
    """A number input, or None when it is not known yet (a preview) or not a number."""
    value = news.get(key)
    return value if isinstance(value, int | float) else None


class _GeneratedProvider(ResourceProvider):
    """Generate once; any input change replaces the resource, nothing is updated in place."""

    inputs: ClassVar[tuple[str, ...]]
    create_only: ClassVar[tuple[str, ...]] = ()
    """Inputs that shape what `create` makes but never replace it: they apply at the next replacement."""

    def generate(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """The generated outputs for the given inputs."""
        raise NotImplementedError

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Generate the material; the outputs repeat the inputs, which `diff` compares against."""
        inputs = {key: props[key] for key in self.inputs} | {key: props.get(key) for key in self.create_only}
        return CreateResult(secrets.token_hex(16), {**inputs, **self.generate(inputs)})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """Replace on any input change; equal inputs mean no diff, whatever the code did."""
        replaces = changed_inputs(olds, news, self.inputs)
        return DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=False)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """The stored state, unchanged: the material exists nowhere else to read back."""
        return ReadResult(id_, props)

    def update(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> UpdateResult:
        """Never called, as `diff` replaces on every change; fail loudly rather than lose state."""
        raise NotImplementedError(f"{type(self).__name__} replaces its resources, it never updates them")


class PasswordProvider(_GeneratedProvider):
    """A password of letters and digits, the same on every run until `length` changes."""

    inputs = ("length",)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Refuse guessable passwords."""
        failures = []
        length = _number(news, "length")
        if length is not None and length < MIN_PASSWORD_LENGTH:
            failures.append(CheckFailure("length", f"must be at least {MIN_PASSWORD_LENGTH}"))
        return CheckResult(news, failures)

    def generate(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """A fresh password."""
        return {"result": crypto.password(int(inputs["length"]))}


class PasswordHashProvider(_GeneratedProvider):
    """A bcrypt hash of a password, salted once: the hash changes only when the password does.

    A hash made in the program would get a new salt on every run, and so change the file
    realm Secret on every `pulumi up`.
    """

    inputs = ("password",)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Refuse what bcrypt, which reads at most 72 bytes, would silently cut."""
        password = news.get("password")
        failures = []
        if isinstance(password, str) and not 0 < len(password.encode()) <= MAX_BCRYPT_BYTES:
            failures.append(CheckFailure("password", f"must be 1 to {MAX_BCRYPT_BYTES} bytes long"))
        return CheckResult(news, failures)

    def generate(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """A fresh salt and the hash."""
        return {"hash": crypto.bcrypt_hash(inputs["password"])}


class _CertificateProvider(_GeneratedProvider):
    """A key and certificate that are also replaced once the renewal window is reached.

    The key algorithm is create-only: a stack made when keys were RSA keeps its keys and
    certificates (no restart of every node on upgrade) until their renewal makes EC ones.
    """

    create_only = ("key_algorithm",)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Refuse weak keys and a renewal window that covers the whole lifetime."""
        failures = []
        bits = _number(news, "rsa_bits")
        validity, renewal = _number(news, "validity_hours"), _number(news, "early_renewal_hours")
        if bits is not None and bits < MIN_RSA_BITS:
            failures.append(CheckFailure("rsa_bits", f"must be at least {MIN_RSA_BITS}"))
        algorithm = news.get("key_algorithm")
        if isinstance(algorithm, str) and algorithm != rpc.UNKNOWN and algorithm not in crypto.KEY_ALGORITHMS:
            failures.append(
                CheckFailure("key_algorithm", f"must be one of {', '.join(crypto.KEY_ALGORITHMS)}")
            )
        if validity is not None and renewal is not None and not 0 <= renewal < validity:
            failures.append(
                CheckFailure("early_renewal_hours", "must be at least 0 and less than validity_hours")
            )
        return CheckResult(news, failures)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """Replace on any input change, and inside the renewal window so expiry is never reached."""
        result = super().diff(id_, olds, news)
        now = datetime.now(UTC)
        if not result.changes and crypto.renewal_due(olds["cert_pem"], olds["early_renewal_hours"], now):
            # The program never sees this certificate in a preview (a replaced resource's
            # outputs are unknown there), so the provider says it: the engine shows a
            # plugin's stderr lines in `pulumi preview` and `up` (pkg/resource/plugin/plugin.go).
            warning = crypto.expiry_warning(
                olds["common_name"], olds["cert_pem"], olds["early_renewal_hours"], now
            )
            print(f"warning: {warning}", file=sys.stderr)
            return DiffResult(changes=True, replaces=["cert_pem"], delete_before_replace=False)
        return result


class CertificateAuthorityProvider(_CertificateProvider):
    """A key and the self-signed CA certificate it signs."""

    inputs = ("common_name", "organization", "rsa_bits", "validity_hours", "early_renewal_hours")

    def generate(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """A fresh key and CA certificate."""
        key = crypto.private_key_pem(inputs.get("key_algorithm") or crypto.RSA, int(inputs["rsa_bits"]))
        certificate = crypto.ca_certificate_pem(
            key,
            common_name=inputs["common_name"],
            organization=inputs["organization"],
            validity_hours=int(inputs["validity_hours"]),
            now=datetime.now(UTC),
        )
        return {"private_key_pem": key, "cert_pem": certificate}


class LeafCertificateProvider(_CertificateProvider):
    """A key and a certificate for it, signed by the CA, for TLS servers and clients."""

    inputs = (
        "common_name",
        "organization",
        "rsa_bits",
        "dns_names",
        "ip_addresses",
        "validity_hours",
        "early_renewal_hours",
        "ca_cert_pem",
        "ca_private_key_pem",
    )

    def generate(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """A fresh key and a certificate the CA signs."""
        key = crypto.private_key_pem(inputs.get("key_algorithm") or crypto.RSA, int(inputs["rsa_bits"]))
        certificate = crypto.leaf_certificate_pem(
            key,
            ca_cert_pem=inputs["ca_cert_pem"],
            ca_private_key_pem=inputs["ca_private_key_pem"],
            common_name=inputs["common_name"],
            organization=inputs["organization"],
            dns_names=inputs["dns_names"],
            ip_addresses=inputs["ip_addresses"],
            validity_hours=int(inputs["validity_hours"]),
            now=datetime.now(UTC),
        )
        return {"private_key_pem": key, "cert_pem": certificate}


class GeneratedPassword(DynamicResource, module=MODULE, name="GeneratedPassword"):
    """A password of letters and digits, kept secret in state, stable until `length` changes."""

    result: pulumi.Output[str]

    def __init__(
        self, name: str, *, length: pulumi.Input[int], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props = {"length": length, "result": None}
        super().__init__(PasswordProvider(), name, props, _secret_outputs(opts, "result"))


class PasswordHash(DynamicResource, module=MODULE, name="PasswordHash"):
    """The bcrypt hash of a password, for Elasticsearch's file realm; stable until the password changes."""

    hash: pulumi.Output[str]

    def __init__(
        self, name: str, *, password: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props = {"password": pulumi.Output.secret(password), "hash": None}
        super().__init__(PasswordHashProvider(), name, props, _secret_outputs(opts, "hash"))


class CertificateAuthority(DynamicResource, module=MODULE, name="CertificateAuthority"):
    """A private CA: its key (secret) and its self-signed certificate."""

    cert_pem: pulumi.Output[str]
    private_key_pem: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        common_name: pulumi.Input[str],
        organization: pulumi.Input[str],
        rsa_bits: pulumi.Input[int],
        key_algorithm: pulumi.Input[str] = crypto.ECDSA_P256,
        validity_hours: pulumi.Input[int],
        early_renewal_hours: pulumi.Input[int],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "common_name": common_name,
            "organization": organization,
            "rsa_bits": rsa_bits,
            "key_algorithm": key_algorithm,
            "validity_hours": validity_hours,
            "early_renewal_hours": early_renewal_hours,
            "cert_pem": None,
            "private_key_pem": None,
        }
        super().__init__(
            CertificateAuthorityProvider(), name, props, _secret_outputs(opts, "private_key_pem")
        )


class LeafCertificate(DynamicResource, module=MODULE, name="LeafCertificate"):
    """A key (secret) and a certificate signed by `ca`; a new CA means a new certificate."""

    cert_pem: pulumi.Output[str]
    private_key_pem: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        ca: CertificateAuthority,
        common_name: pulumi.Input[str],
        organization: pulumi.Input[str],
        rsa_bits: pulumi.Input[int],
        key_algorithm: pulumi.Input[str] = crypto.ECDSA_P256,
        dns_names: pulumi.Input[Sequence[pulumi.Input[str]]],
        ip_addresses: pulumi.Input[Sequence[pulumi.Input[str]]],
        validity_hours: pulumi.Input[int],
        early_renewal_hours: pulumi.Input[int],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "common_name": common_name,
            "organization": organization,
            "rsa_bits": rsa_bits,
            "key_algorithm": key_algorithm,
            "dns_names": dns_names,
            "ip_addresses": ip_addresses,
            "validity_hours": validity_hours,
            "early_renewal_hours": early_renewal_hours,
            "ca_cert_pem": ca.cert_pem,
            # Secret already in a real run; explicit, so the offline render redacts it too.
            "ca_private_key_pem": pulumi.Output.secret(ca.private_key_pem),
            "cert_pem": None,
            "private_key_pem": None,
        }
        secret_outputs = _secret_outputs(opts, "private_key_pem", "ca_private_key_pem")
        super().__init__(LeafCertificateProvider(), name, props, secret_outputs)
