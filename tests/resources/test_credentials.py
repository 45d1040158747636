"""The generated passwords and keys: resources of their component, encrypted in state.

A changed password rolls exactly the pods that read it.
"""

from __future__ import annotations

import pytest

from tests.readers import GENERATED_PREFIX, PASSWORD_TYPE
from tools.render import Rendered, run_program, stack_config


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
    assert len(generated) == 15
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
    assert len(generated) == 15
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
    assert len(parents) == 15
    for name, parent in parents.items():
        component = (
            "ElasticsearchCertificates::elasticsearch-tls"
            if "tls" in name
            else "StackCredentials::credentials"
        )
        assert parent == f"elk-stack:index:{component}", name


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
