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
REPLACING = {"replace", "create-replacement", "delete-replaced", "delete"}
# The Jobs' scripts changed since that commit (split into a library and one script per
# Job), and pulumi-kubernetes replaces a ConfigMap whose data changes, and a Job whose
# template does: those are replaced for their content, by design, not by the move.
CHANGED_SCRIPTS = {"kubernetes:batch/v1:Job", "kubernetes:core/v1:ConfigMap::setup-script"}


def replaced_for_the_move(op: str, urn: str) -> bool:
    """A replacement or deletion that the changed scripts do not explain."""
    kind, name = urn.split("::")[2].split("$")[-1], urn.split("::")[3]
    return op in REPLACING and kind not in CHANGED_SCRIPTS and f"{kind}::{name}" not in CHANGED_SCRIPTS


@pytest.mark.claim(
    "A stack deployed by the code from before the layer folders is previewed by today's code "
    "without replacing or deleting any resource but a Job and its script whose text changed, and today's "
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
    dynamic = {
        resource["type"].rsplit(":", 1)[1]
        for resource in stack.state()["deployment"]["resources"]
        if "__provider" in resource.get("inputs", {})
    }
    assert {"ClusterFormation", "GeneratedPassword", "CertificateAuthority"} <= dynamic, dynamic

    link_project(stack, PROJECT_DIR)
    planned = stack.planned_operations()
    replaced = [(op, urn) for op, urn in planned if replaced_for_the_move(op, urn)]
    assert replaced == [], replaced
    stack.pulumi("refresh", "--yes", "--skip-preview")
    stack.pulumi("destroy", "--yes", "--skip-preview")
    assert stack.state()["deployment"].get("resources") in (None, []), "nothing is left in the state"
