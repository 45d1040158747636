"""Re-renders with one generated or config value changed: exactly the pods that read it roll."""

from __future__ import annotations

import copy
import functools
from typing import Any

import pytest

from components.specs import file_realm
from components.specs.credentials import USERNAME_KEY
from tests import invariants
from tests.conftest import flat_config, stack_config_of
from tests.readers import pod
from tools import render as render_module
from tools.render import COMPUTED_OUTPUTS, Rendered, run_program

# The stacks with security on that differ in who reads which generated value: qa, and
# plain HTTP, where no client mounts the CA. The test, large and own-PKI stacks have qa's
# generated Secrets and readers (own PKI has fewer), so re-rendering each a dozen times
# would only slow the suite. The insecure stack has no Secrets.
ROLL_STACKS = ["qa", "http"]


def generated_values(rendered: Rendered) -> list[tuple[str, str]]:
    """(placeholder kind, resource name) of every value a provider computes in this render."""
    return sorted(
        (kind, record["name"])
        for record in rendered.resources
        for kind in COMPUTED_OUTPUTS.get(record["type"], {}).values()
    )


@functools.cache
def render_changed(stack: str, value: tuple[str, str] | None = None, change: str = "") -> Rendered:
    """A stack rendered with Secret values shown, one generated value (kind, resource) changed.

    The offline render stands in for providers with `_placeholder(kind, name)`; changing
    what it returns for one resource is what a new password or a renewed certificate is.
    `change` names a `CONFIG_CHANGES` entry applied on top of the unit config. Cached, as
    several tests compare against the same renders; callers must not mutate the result.
    """
    config = flat_config(**CONFIG_CHANGES[change]) if change else stack_config_of(stack)
    original = render_module._placeholder

    def placeholder(kind: str, name: str) -> str:
        return original(kind, name) + ("-changed" if (kind, name) == value else "")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(render_module, "_placeholder", placeholder)
        return run_program(config, stack=stack, show_secrets=True)


@pytest.mark.slow
@pytest.mark.parametrize("stack", ROLL_STACKS)
def test_each_generated_value_rolls_exactly_the_pods_that_read_it(stack: str) -> None:
    """One re-render per generated value (passwords, keys, CA, node certificate).

    The cases come from the render's own records, not from a list: a new generated value
    is covered as soon as it exists.
    """
    before = render_changed(stack)
    values = generated_values(before)
    changed_keys: set[invariants.Source] = set()
    violations = []
    for value in values:
        after = render_changed(stack, value)
        changed_keys |= invariants.changed_sources(before.manifests, after.manifests)
        violations += [f"{value}: {v}" for v in invariants.roll_violations(before.manifests, after.manifests)]
    assert violations == []
    objects = invariants.stored_objects(before.manifests)
    read = {
        source
        for manifest, _, template in invariants.pod_templates(before.manifests)
        for source in invariants.template_reads(manifest, template, objects)[0]
        if source[0] == "Secret" and (source[0], source[1]) in objects
    }
    assert values and read, "nothing to perturb or nothing read: the test would be vacuous"
    # User names are constants, or the config's logstashUser (tested below), not generated;
    # so are the file realm's role assignments and roles (tests/specs/test_file_realm.py).
    not_generated = {USERNAME_KEY, file_realm.USERS_ROLES_FILE, file_realm.ROLES_FILE}
    assert {key for _, _, key in read - changed_keys} <= not_generated


def test_a_kibana_that_does_not_roll_on_a_new_encryption_key_is_caught() -> None:
    """A Kibana that keeps its annotations when its encryption key changes, on a real pair of renders."""
    before = render_changed("qa")
    after = copy.deepcopy(render_changed("qa", ("password", "credentials-security-key")))
    assert invariants.roll_violations(before.manifests, after.manifests) == []
    stale = pod(after.manifests, "Deployment", "elk-kibana")
    stale["metadata"]["annotations"] = pod(before.manifests, "Deployment", "elk-kibana")["metadata"][
        "annotations"
    ]
    assert invariants.roll_violations(before.manifests, after.manifests) == [
        "Deployment/elk-kibana: spec.template.metadata does not change when "
        "Secret elk-kibana-encryption-keys/xpack.security.encryptionKey changes"
    ]


def test_a_checksum_that_rolls_another_component_is_caught() -> None:
    """Logstash rolling on Kibana's key is as wrong as Kibana not rolling."""
    before = render_changed("qa")
    after = copy.deepcopy(render_changed("qa", ("password", "credentials-security-key")))
    pod(after.manifests, "StatefulSet", "elk-logstash")["metadata"]["annotations"]["elk-stack/x"] = "1"
    assert invariants.roll_violations(before.manifests, after.manifests) == [
        "StatefulSet/elk-logstash: spec.template.metadata.annotations change "
        "although nothing it reads changed"
    ]


CONFIG_CHANGES: dict[str, dict[str, Any]] = {
    "none": {},
    "logstash settings": {"logstash": {"queue": {"type": "persisted", "maxBytes": "1536mb"}}},
    "kibana public URL": {"kibana": {"ingress": {"host": "logs.example.com"}}},
    "logstash user": {"security": {"logstashUser": "shipper"}},
    "elasticsearch heap": {"elasticsearch": {"heap": "768m"}},
}


@pytest.mark.parametrize("change", [c for c in CONFIG_CHANGES if c != "none"])
def test_a_config_change_rolls_exactly_the_pods_that_read_it(change: str) -> None:
    """Config-sourced values (settings files, the Logstash user name) roll their readers only."""
    before = render_changed("unit", change="none")
    after = render_changed("unit", change=change)
    assert invariants.roll_violations(before.manifests, after.manifests) == []
