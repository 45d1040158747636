"""`make destroy` names the project's unprotect step, with the URNs, when protected claims stop it.

The refusal itself comes from the real engine: tests/e2e/test_protection.py runs this tool
against a deployed stack. Here, what it reads from a state and what it prints.
"""

from __future__ import annotations

from tools.destroy import protected_urns, unprotect_hint

CLAIM = (
    "urn:pulumi:qa::elk-stack::elk-stack:index:LogstashPipeline"
    "$kubernetes:core/v1:PersistentVolumeClaim::logstash-queue-0"
)
DATA = (
    "urn:pulumi:qa::elk-stack::elk-stack:index:ElasticsearchCluster$elk-stack:index:ElasticsearchNode"
    "$kubernetes:core/v1:PersistentVolumeClaim::elasticsearch-data-0"
)


def test_only_the_protected_resources_of_the_state_are_named() -> None:
    state = {
        "deployment": {
            "resources": [
                {"urn": CLAIM, "protect": True},
                {"urn": "urn:pulumi:qa::elk-stack::kubernetes:core/v1:Service::x"},
                {"urn": DATA, "protect": True},
                {"urn": "urn:pulumi:qa::elk-stack::kubernetes:core/v1:Secret::y", "protect": False},
            ]
        }
    }
    assert protected_urns(state) == sorted([CLAIM, DATA])


def test_an_empty_stack_has_nothing_protected() -> None:
    assert protected_urns({"deployment": {}}) == []
    assert protected_urns({"deployment": {"resources": None}}) == []


def test_the_hint_is_one_unprotect_command_per_claim_and_the_documented_section() -> None:
    hint = unprotect_hint("qa", [DATA, CLAIM])
    lines = hint.splitlines()
    assert lines[1:] == [
        f"  pulumi state unprotect --stack qa '{DATA}'",
        f"  pulumi state unprotect --stack qa '{CLAIM}'",
    ]
    assert "docs/operations.md#data-protection" in lines[0]
    assert "2 protected resources" in lines[0]
    assert "program" not in hint, "no advice to edit the program"
