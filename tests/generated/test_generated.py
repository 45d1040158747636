"""The dynamic providers: generate once, replace on change or renewal, never a perpetual diff."""

from __future__ import annotations

import asyncio
import base64
import pickle
import pickletools
import string
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import grpc  # type: ignore[import-untyped]
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pulumi.dynamic import ResourceProvider
from pulumi.dynamic.dynamic import PROVIDER_KEY, serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from components import generated
from components.generated import (
    CertificateAuthorityProvider,
    LeafCertificateProvider,
    PasswordProvider,
    changed_inputs,
    crypto,
    undo_sdk_pickler_patch,
)
from tools.render import PROJECT_DIR

CA_INPUTS = {
    "common_name": "elk-stack CA",
    "organization": "elk-stack",
    "rsa_bits": 2048,
    "validity_hours": 24 * 3650,
    "early_renewal_hours": 24 * 300,
}
NODE_INPUTS: dict[str, Any] = {
    "common_name": "elk-elasticsearch",
    "organization": "elk-stack",
    "rsa_bits": 2048,
    "dns_names": ["elk-elasticsearch", "localhost"],
    "ip_addresses": ["127.0.0.1"],
    "validity_hours": 24 * 365,
    "early_renewal_hours": 24 * 30,
}


@pytest.fixture(scope="module")
def ca_state() -> dict[str, Any]:
    outs = CertificateAuthorityProvider().create(dict(CA_INPUTS)).outs
    assert outs is not None
    return outs


def node_inputs(ca_state: dict[str, Any]) -> dict[str, Any]:
    return {
        **NODE_INPUTS,
        "ca_cert_pem": ca_state["cert_pem"],
        "ca_private_key_pem": ca_state["private_key_pem"],
    }


@pytest.fixture(scope="module")
def node_state(ca_state: dict[str, Any]) -> dict[str, Any]:
    outs = LeafCertificateProvider().create(node_inputs(ca_state)).outs
    assert outs is not None
    return outs


def load(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


# `serialize_provider` wraps `pickle._Pickler._batch_setitems` once more on every call and
# never unwraps it, so after a few thousand dynamic resources in one process (the whole
# suite's renders) pickling a dict with items recurses past the limit. One `pulumi up`
# serializes one provider per resource and never such a dict; the tests start afresh.
BATCH_SETITEMS = pickle._Pickler._batch_setitems  # type: ignore[attr-defined]
assert BATCH_SETITEMS.__qualname__ == "_Pickler._batch_setitems", "captured before any wrapping"


def pickled_strings(provider: ResourceProvider) -> list[str]:
    """The strings in the serialized provider: for a by-reference pickle, its module and class."""
    pickle._Pickler._batch_setitems = BATCH_SETITEMS  # type: ignore[attr-defined]
    blob = base64.b64decode(serialize_provider(provider))
    return [arg for _, arg, _ in pickletools.genops(blob) if isinstance(arg, str)]


# --- passwords ----------------------------------------------------------------------


def test_password_create_returns_a_password_of_the_length_and_the_input() -> None:
    result = PasswordProvider().create({"length": 32, PROVIDER_KEY: "blob"})
    assert result.outs is not None
    assert result.outs["length"] == 32
    assert len(result.outs["result"]) == 32
    assert set(result.outs["result"]) <= set(string.ascii_letters + string.digits)
    assert result.outs["result"] not in result.id


def test_password_length_arriving_as_a_float_still_works() -> None:
    outs = PasswordProvider().create({"length": 32.0}).outs
    assert outs is not None and len(outs["result"]) == 32


def test_password_diff_is_empty_for_equal_inputs() -> None:
    olds = {"length": 32, "result": "x" * 32, PROVIDER_KEY: "old blob"}
    diff = PasswordProvider().diff("id", olds, {"length": 32, PROVIDER_KEY: "new blob"})
    assert (diff.changes, diff.replaces) == (False, [])


def test_password_is_replaced_when_its_length_changes() -> None:
    diff = PasswordProvider().diff("id", {"length": 32, "result": "x" * 32}, {"length": 48})
    assert (diff.changes, diff.replaces) == (True, ["length"])


def test_an_unknown_input_in_a_preview_counts_as_changed() -> None:
    assert changed_inputs({"length": 32}, {"length": rpc.UNKNOWN}, ["length"]) == ["length"]


def test_password_check_refuses_a_short_length_but_lets_unknowns_through() -> None:
    provider = PasswordProvider()
    assert [f.property for f in provider.check({}, {"length": 8}).failures] == ["length"]
    assert [f.property for f in provider.check({}, {"length": 15}).failures] == ["length"]
    assert provider.check({}, {"length": 16}).failures == []
    assert provider.check({}, {"length": 32}).failures == []
    assert provider.check({}, {"length": 32}).inputs == {"length": 32}
    assert provider.check({}, {"length": rpc.UNKNOWN}).failures == []


def test_read_returns_the_stored_state_unchanged() -> None:
    state = {"length": 32, "result": "x" * 32}
    result = PasswordProvider().read("id", dict(state))
    assert (result.id, result.outs) == ("id", state)


def test_a_replacement_is_created_before_the_old_value_is_deleted(ca_state: dict[str, Any]) -> None:
    """Consumers keep a valid password or certificate until the new one exists."""
    password = PasswordProvider().diff("id", {"length": 32, "result": "x" * 32}, {"length": 48})
    renewal = CertificateAuthorityProvider().diff(
        "id",
        {**ca_state, "early_renewal_hours": CA_INPUTS["validity_hours"]},
        {**CA_INPUTS, "early_renewal_hours": CA_INPUTS["validity_hours"]},
    )
    assert (password.changes, renewal.changes) == (True, True)
    assert (password.delete_before_replace, renewal.delete_before_replace) == (False, False)


def test_update_is_refused_because_every_change_replaces() -> None:
    with pytest.raises(NotImplementedError):
        PasswordProvider().update("id", {"length": 32}, {"length": 32})


# --- certificates -------------------------------------------------------------------


def test_ca_create_returns_its_inputs_key_and_certificate(ca_state: dict[str, Any]) -> None:
    assert {key: ca_state[key] for key in CA_INPUTS} == CA_INPUTS
    certificate = load(ca_state["cert_pem"])
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca_state["private_key_pem"].startswith("-----BEGIN RSA PRIVATE KEY-----")


def test_a_certificate_of_a_stack_from_before_ec_keys_has_an_rsa_key(ca_state: dict[str, Any]) -> None:
    """State written before `key_algorithm` existed has none; such inputs still make RSA keys."""
    assert "key_algorithm" not in CA_INPUTS
    assert ca_state["key_algorithm"] is None
    assert isinstance(load(ca_state["cert_pem"]).public_key(), rsa.RSAPublicKey)


@pytest.mark.parametrize("provider", [CertificateAuthorityProvider, LeafCertificateProvider])
def test_an_ec_key_is_made_and_recorded_when_asked_for(
    ca_state: dict[str, Any], provider: type[CertificateAuthorityProvider | LeafCertificateProvider]
) -> None:
    inputs = CA_INPUTS if provider is CertificateAuthorityProvider else node_inputs(ca_state)
    outs = provider().create({**inputs, "key_algorithm": crypto.ECDSA_P256}).outs
    assert outs is not None
    assert outs["key_algorithm"] == crypto.ECDSA_P256
    assert outs["private_key_pem"].startswith("-----BEGIN PRIVATE KEY-----")
    assert isinstance(load(outs["cert_pem"]).public_key(), ec.EllipticCurvePublicKey)


def test_a_new_key_algorithm_waits_for_the_next_renewal(
    ca_state: dict[str, Any], node_state: dict[str, Any]
) -> None:
    """Upgrading the program must not restart every node for new keys: RSA certificates stay until renewed."""
    news = {**node_inputs(ca_state), "key_algorithm": crypto.ECDSA_P256}
    diff = LeafCertificateProvider().diff("id", node_state, news)
    assert (diff.changes, diff.replaces) == (False, [])


def test_node_certificate_is_signed_by_the_ca_it_was_given(
    ca_state: dict[str, Any], node_state: dict[str, Any]
) -> None:
    load(node_state["cert_pem"]).verify_directly_issued_by(load(ca_state["cert_pem"]))
    assert node_state["private_key_pem"] != ca_state["private_key_pem"]


def test_certificate_validity_starts_at_creation(node_state: dict[str, Any]) -> None:
    certificate = load(node_state["cert_pem"])
    assert abs(certificate.not_valid_before_utc - datetime.now(UTC)) < timedelta(minutes=5)
    assert certificate.not_valid_after_utc - certificate.not_valid_before_utc == timedelta(days=365)


def test_certificate_diff_is_empty_for_equal_inputs_outside_the_window(
    ca_state: dict[str, Any], node_state: dict[str, Any]
) -> None:
    diff = LeafCertificateProvider().diff("id", node_state, node_inputs(ca_state))
    assert (diff.changes, diff.replaces) == (False, [])


def test_a_new_ca_replaces_the_node_certificate(ca_state: dict[str, Any], node_state: dict[str, Any]) -> None:
    news = {**node_inputs(ca_state), "ca_cert_pem": rpc.UNKNOWN, "ca_private_key_pem": rpc.UNKNOWN}
    diff = LeafCertificateProvider().diff("id", node_state, news)
    assert (diff.changes, diff.replaces) == (True, ["ca_cert_pem", "ca_private_key_pem"])


def test_a_new_name_replaces_the_node_certificate(
    ca_state: dict[str, Any], node_state: dict[str, Any]
) -> None:
    news = {**node_inputs(ca_state), "dns_names": [*NODE_INPUTS["dns_names"], "elk-elasticsearch-1"]}
    assert LeafCertificateProvider().diff("id", node_state, news).replaces == ["dns_names"]


def test_certificate_is_replaced_inside_its_renewal_window(ca_state: dict[str, Any]) -> None:
    """Issued 340 days ago with a 365-day life and 30 days of early renewal: 25 days left."""
    issued = datetime.now(UTC) - timedelta(days=340)
    inputs = node_inputs(ca_state)
    certificate = crypto.leaf_certificate_pem(
        crypto.rsa_private_key_pem(2048),
        **{key: inputs[key] for key in ("ca_cert_pem", "ca_private_key_pem", "common_name", "organization")},
        dns_names=inputs["dns_names"],
        ip_addresses=inputs["ip_addresses"],
        validity_hours=inputs["validity_hours"],
        now=issued,
    )
    diff = LeafCertificateProvider().diff("id", {**inputs, "cert_pem": certificate}, inputs)
    assert (diff.changes, diff.replaces) == (True, ["cert_pem"])


def test_ca_is_replaced_inside_its_renewal_window(ca_state: dict[str, Any]) -> None:
    olds = {**ca_state, "early_renewal_hours": CA_INPUTS["validity_hours"]}
    diff = CertificateAuthorityProvider().diff(
        "id", olds, {**CA_INPUTS, "early_renewal_hours": olds["early_renewal_hours"]}
    )
    assert (diff.changes, diff.replaces) == (True, ["cert_pem"])


@pytest.mark.parametrize(("seconds", "replaced"), [(-1, False), (0, True), (1, True)])
@pytest.mark.parametrize("provider", [CertificateAuthorityProvider, LeafCertificateProvider])
def test_a_certificate_is_replaced_from_the_exact_second_its_window_opens(
    monkeypatch: pytest.MonkeyPatch,
    ca_state: dict[str, Any],
    provider: type[CertificateAuthorityProvider | LeafCertificateProvider],
    seconds: int,
    replaced: bool,
) -> None:
    """Created and diffed on a clock we set: validity - earlyRenewal after issue, and not a second before."""
    issued = datetime(2030, 1, 1, tzinfo=UTC)
    clock = [issued]
    monkeypatch.setattr(generated, "datetime", SimpleNamespace(now=lambda tz: clock[0]))
    inputs: dict[str, Any] = (
        dict(CA_INPUTS) if provider is CertificateAuthorityProvider else node_inputs(ca_state)
    )
    state = provider().create(dict(inputs)).outs
    assert state is not None
    assert load(state["cert_pem"]).not_valid_before_utc == issued
    window = timedelta(hours=inputs["validity_hours"] - inputs["early_renewal_hours"])
    clock[0] = issued + window + timedelta(seconds=seconds)
    diff = provider().diff("id", state, inputs)
    assert (diff.changes, diff.replaces) == ((True, ["cert_pem"]) if replaced else (False, []))


@pytest.mark.parametrize(("seconds", "replaced"), [(-1, False), (0, True)])
def test_a_preview_that_renews_a_certificate_says_so(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    ca_state: dict[str, Any],
    seconds: int,
    replaced: bool,
) -> None:
    """The program cannot see a replaced certificate in a preview; the provider's stderr line names it.

    The engine shows a provider's stderr lines in `pulumi preview` and `pulumi up`.
    """
    issued = datetime(2030, 1, 1, tzinfo=UTC)
    clock = [issued]
    monkeypatch.setattr(generated, "datetime", SimpleNamespace(now=lambda tz: clock[0]))
    inputs = node_inputs(ca_state)
    state = LeafCertificateProvider().create(dict(inputs)).outs
    assert state is not None
    window = timedelta(hours=inputs["validity_hours"] - inputs["early_renewal_hours"])
    clock[0] = issued + window + timedelta(seconds=seconds)
    capsys.readouterr()
    LeafCertificateProvider().diff("id", state, inputs)
    expected = (
        f"warning: certificate {inputs['common_name']} expires on 2031-01-01 00:00 UTC and is inside its "
        "renewal window (from 2030-12-02 00:00 UTC): the next `pulumi up` replaces it\n"
    )
    assert capsys.readouterr().err == (expected if replaced else "")


@pytest.mark.parametrize(
    ("change", "failing"),
    [
        ({"rsa_bits": 1024}, ["rsa_bits"]),
        ({"early_renewal_hours": 24 * 365}, ["early_renewal_hours"]),
        ({"early_renewal_hours": -1}, ["early_renewal_hours"]),
        ({"early_renewal_hours": 0}, []),
        ({"rsa_bits": 2048}, []),
        ({"key_algorithm": "DSA"}, ["key_algorithm"]),
        ({"key_algorithm": crypto.ECDSA_P256}, []),
        ({"key_algorithm": rpc.UNKNOWN}, []),
        ({"validity_hours": rpc.UNKNOWN}, []),
        ({}, []),
    ],
)
def test_certificate_check(change: dict[str, Any], failing: list[str]) -> None:
    result = LeafCertificateProvider().check({}, {**NODE_INPUTS, **change})
    assert [f.property for f in result.failures] == failing


# --- serialization ------------------------------------------------------------------


@pytest.mark.parametrize(
    "provider", [PasswordProvider, CertificateAuthorityProvider, LeafCertificateProvider]
)
def test_provider_is_pickled_by_reference_so_code_edits_do_not_change_it(
    provider: type[ResourceProvider],
) -> None:
    assert serialize_provider(provider()) == serialize_provider(provider())
    assert pickled_strings(provider()) == ["components.generated", provider.__name__]
    restored = pickle.loads(base64.b64decode(serialize_provider(provider())))
    assert type(restored) is provider


def test_the_pickle_check_sees_anything_beyond_the_class_reference() -> None:
    provider = PasswordProvider()
    provider.__dict__["captured"] = "state"
    assert pickled_strings(provider) == ["components.generated", "PasswordProvider", "captured", "state"]


@pytest.fixture(scope="module")
def provider_process() -> Iterator[provider_pb2_grpc.ResourceProviderStub]:
    """`pulumi-resource-pulumi-python` as the engine starts it: in the project directory."""
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.dynamic"], cwd=PROJECT_DIR, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield provider_pb2_grpc.ResourceProviderStub(channel)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_provider_process_imports_the_provider_and_creates_a_password(
    provider_process: provider_pb2_grpc.ResourceProviderStub,
) -> None:
    urn = "urn:pulumi:unit::elk-stack::pulumi-python:dynamic/elk-stack:GeneratedPassword::p"
    inputs = {"length": 24, PROVIDER_KEY: serialize_provider(PasswordProvider())}
    properties = asyncio.run(rpc.serialize_properties(inputs, {}))
    created = provider_process.Create(provider_pb2.CreateRequest(urn=urn, properties=properties), timeout=60)
    outs = rpc.deserialize_properties(created.properties)
    assert len(outs["result"]) == 24
    diff = provider_process.Diff(
        provider_pb2.DiffRequest(id=created.id, urn=urn, olds=created.properties, news=properties), timeout=60
    )
    assert diff.changes == provider_pb2.DiffResponse.DIFF_NONE


def wrapper_layers() -> int:
    """How many sorting wrappers the SDK's `serialize_provider` has stacked on pickle's method."""
    method, layers = pickle._Pickler._batch_setitems, 0  # type: ignore[attr-defined]
    while method.__closure__:
        method = dict(zip(method.__code__.co_freevars, method.__closure__, strict=True))[
            "unsorted_batch_setitems"
        ].cell_contents
        layers += 1
    return layers


def test_many_dynamic_resources_never_stack_up_pickler_wrappers(render: Callable[..., Any]) -> None:
    """Each render registers every dynamic resource; without the undo, layers pile up per
    resource until pickling hits the recursion limit (a RecursionError late in a test session,
    or in a `pulumi up` with a few hundred generated values)."""
    for _ in range(3):
        render()
    assert wrapper_layers() <= 1
    for _ in range(1500):
        undo_sdk_pickler_patch()
        serialize_provider(PasswordProvider())
    assert wrapper_layers() == 1
