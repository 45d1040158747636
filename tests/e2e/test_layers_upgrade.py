"""A stack deployed before the code moved into layer folders, taken over by today's code.

Pulumi keeps each dynamic resource's provider pickled by reference, module path and class
name, in the stack's state: the generated passwords, CA and certificates name
`components.generated.*Provider`, and the cluster-formation record names
`components.elasticsearch_cluster.FormationProvider`. The first stays where it was; the
second moved, and a shim keeps the old path. The stack is deployed with the program of
the last commit before the move (checked out of this repository's history), then
previewed, refreshed and destroyed by today's program, whose engine unpickles the old
paths from the state.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PROJECT_DIR, Cluster, stack_from_file
from tests.e2e.test_certificates import checkout, link_project

# The last commit of main before the code moved into components/{configuration,specs,generated,resources}.
BEFORE_LAYERS = "3b01b8b"
NAMESPACE = "elk-e2e-layers"
# Jobs are immutable: a Job whose script changed is replaced by design (it runs again).
SCRIPT_JOBS = ("kubernetes:batch/v1:Job",)
REPLACING = {"replace", "create-replacement", "delete-replaced", "delete"}


@pytest.mark.claim(
    "A stack deployed by the code from before the layer folders is previewed by today's code "
    "without replacing or deleting any resource but a Job whose script changed, and today's "
    "code refreshes and destroys it (the old provider paths in its state still load)"
)
def test_a_stack_from_before_the_layers_is_taken_over(cluster: Cluster) -> None:
    data = {"storage": {"size": "1Gi", "protect": False}}
    stack = stack_from_file(
        cluster,
        "e2e-layers",
        "Pulumi.test.yaml",
        NAMESPACE,
        cluster.namespace(NAMESPACE),
        **{"elk-stack:elasticsearch": data},
    )
    link_project(stack, checkout(BEFORE_LAYERS))
    stack.pulumi("up", "--yes", "--skip-preview")
    providers = {
        resource["inputs"]["__provider"][:200]
        for resource in stack.state()["deployment"]["resources"]
        if "__provider" in resource.get("inputs", {})
    }
    assert providers, "the old stack has dynamic resources"

    link_project(stack, PROJECT_DIR)
    planned = stack.planned_operations()
    replaced = [
        (op, urn)
        for op, urn in planned
        if op in REPLACING and urn.split("::")[2].split("$")[-1] not in SCRIPT_JOBS
    ]
    assert replaced == [], replaced
    stack.pulumi("refresh", "--yes", "--skip-preview")
    stack.pulumi("destroy", "--yes", "--skip-preview")
    assert stack.state()["deployment"].get("resources") in (None, []), "nothing is left in the state"
