"""Rotating the generated CA in three `pulumi up`s: trust the new one, switch to it, drop the old.

Each step is rendered with real generated secrets, kept from the step before as Pulumi's
state keeps them (`tools/real_es/secrets.py`), so what a step keeps and what it replaces
shows as it would on a deploy. `tests/real/test_cluster.py` runs the same steps on three
real nodes.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.conftest import find, flat_config
from tests.readers import common_names, issuer_name
from tools.real_es.secrets import State, render_with_secrets
from tools.render import Rendered

NODE = "elk-elasticsearch-0"
ROTATION = "elk-stack/ca-rotation"
CA_CHECKSUM = "elk-stack/ca-checksum"
STEPS: list[dict[str, Any]] = [
    {},
    {"caGeneration": 1, "caRotation": "trust"},
    {"caGeneration": 1, "caRotation": "switch"},
    {"caGeneration": 1},
]


def render_step(state: State, tls: dict[str, Any]) -> Rendered:
    config = flat_config(elasticsearch={"tls": tls})
    return render_with_secrets(config, "unit", state)


@pytest.fixture(scope="module")
def steps() -> list[Rendered]:
    """The stack before the rotation and after each of its three steps, one state throughout."""
    state: State = {}
    return [render_step(state, tls) for tls in STEPS]


def secret(rendered: Rendered, name: str) -> dict[str, str]:
    data: dict[str, str] = find(rendered.manifests, "Secret", name)["stringData"]
    return data


def node_files(rendered: Rendered) -> dict[str, str]:
    return secret(rendered, "elk-elasticsearch-node-certs")


def pod_annotations(rendered: Rendered, kind: str, name: str) -> dict[str, str]:
    annotations: dict[str, str] = find(rendered.manifests, kind, name)["spec"]["template"]["metadata"][
        "annotations"
    ]
    return annotations


def test_every_step_trusts_the_ca_that_signed_the_certificates_of_the_step_before(
    steps: list[Rendered],
) -> None:
    """The overlap: a node still on the last step's files and one on this step's trust each other."""
    for before, after in itertools.pairwise(steps):
        assert issuer_name(node_files(before)[f"{NODE}.tls.crt"]) in common_names(node_files(after)["ca.crt"])
        assert issuer_name(node_files(after)[f"{NODE}.tls.crt"]) in common_names(node_files(before)["ca.crt"])


def test_the_steps_trust_then_sign_with_then_keep_only_the_new_ca(steps: list[Rendered]) -> None:
    trusted = [common_names(node_files(step)["ca.crt"]) for step in steps]
    assert trusted == [
        ["elk-stack CA"],
        ["elk-stack CA", "elk-stack CA 1"],
        ["elk-stack CA", "elk-stack CA 1"],
        ["elk-stack CA 1"],
    ]
    signers = [issuer_name(node_files(step)[f"{NODE}.tls.crt"]) for step in steps]
    assert signers == ["elk-stack CA", "elk-stack CA", "elk-stack CA 1", "elk-stack CA 1"]
    kibana = [issuer_name(secret(step, "elk-kibana-server-certs")["tls.crt"]) for step in steps]
    assert kibana == signers


def test_each_ca_is_generated_once_and_kept_through_the_rotation(steps: list[Rendered]) -> None:
    before, trust, switch, done = (node_files(step)["ca.crt"] for step in steps)
    assert trust.startswith(before), "the old CA is the same one, not a new one with its name"
    assert switch == trust
    assert done == trust[len(before) :]
    assert node_files(trust_step := steps[1])[f"{NODE}.tls.crt"] == node_files(steps[0])[f"{NODE}.tls.crt"]
    assert node_files(steps[3])[f"{NODE}.tls.crt"] == node_files(steps[2])[f"{NODE}.tls.crt"]
    assert secret(trust_step, "elk-elasticsearch-ca")["ca.crt"] == trust


def test_every_step_rolls_the_nodes_and_each_trust_change_rolls_the_clients(steps: list[Rendered]) -> None:
    """A roll is what makes `pulumi up` wait until every pod holds the step's files."""
    stages = [pod_annotations(step, "StatefulSet", "elk-elasticsearch").get(ROTATION) for step in steps]
    assert stages == [None, "1-trust", "1-switch", "1"]
    logstash = [pod_annotations(step, "StatefulSet", "elk-logstash")[CA_CHECKSUM] for step in steps]
    assert logstash[0] != logstash[1] == logstash[2] != logstash[3]


def test_a_stack_that_never_rotated_has_no_rotation_annotation() -> None:
    """Upgrading the program must not roll every node of every existing stack."""
    rendered = render_step({}, {})
    assert ROTATION not in pod_annotations(rendered, "StatefulSet", "elk-elasticsearch")
    assert [r["name"] for r in rendered.resources if r["type"].endswith(":CertificateAuthority")] == [
        "elasticsearch-tls-ca"
    ]
