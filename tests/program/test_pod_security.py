"""The rendered pods meet the Restricted Pod Security Standard; Kibana and the setup Job run read-only."""

from __future__ import annotations

import pytest

from tests.conftest import STACKS
from tests.pod_security import pod_templates, restricted_violations
from tools.render import Rendered


@pytest.mark.parametrize("stack", STACKS)
def test_rendered_pods_are_restricted(rendered_stacks: dict[str, Rendered], stack: str) -> None:
    templates = pod_templates(rendered_stacks[stack].manifests)
    assert templates, f"{stack} renders no pods"
    found = [
        violation
        for where, metadata, spec in templates
        for violation in restricted_violations(spec, metadata, where)
    ]
    assert found == []


# Every workload runs with a read-only root (docs/security.md says so), with emptyDirs for
# what each writes.
READ_ONLY_ROOT = {
    "Deployment/elk-kibana",
    "Job/elk-elasticsearch-setup",
    "StatefulSet/elk-elasticsearch",
    "StatefulSet/elk-logstash",
}


@pytest.mark.parametrize("stack", STACKS)
def test_every_container_runs_with_a_read_only_root(rendered_stacks: dict[str, Rendered], stack: str) -> None:
    found = {
        where.split(":")[0]: [
            container.get("securityContext", {}).get("readOnlyRootFilesystem")
            for container in spec.get("initContainers", []) + spec["containers"]
        ]
        for where, _, spec in pod_templates(rendered_stacks[stack].manifests)
    }
    assert set(found) >= READ_ONLY_ROOT, f"{stack}: {sorted(found)}"
    assert all(flag is True for flags in found.values() for flag in flags), found
    assert {name: found[name] for name in READ_ONLY_ROOT} == {
        name: [True] * len(found[name]) for name in READ_ONLY_ROOT
    }
