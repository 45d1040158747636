"""The pod of the snapshot Job before a change: the setup script in its snapshot mode.

The Job is named after the change (a digest of the version and the node sets), so each
change gets one new Job that runs once; it takes a snapshot only while the cluster still
runs nodes the change will restart or remove.
"""

from __future__ import annotations

from typing import Any

from components.configuration import ResolvedNodeSet
from components.specs import common, snapshots
from components.specs.clients import SNAPSHOT_SCRIPT, ClusterAccess, one_shot_pod_spec, script_files
from components.specs.elasticsearch import names

APP = "elasticsearch-snapshot"
NAMES = common.Names(APP)
# The snapshot's own budget; the Job's await gets the wait for the cluster on top.
SNAPSHOT_MINUTES = 60
POLL_SECONDS = 5


def change_tag(version: str, node_sets: list[ResolvedNodeSet]) -> str:
    """A short digest of what a change changes: the version and the node sets."""
    return common.digest(version, *sorted(s.name or "inline" for s in node_sets))[:10]


def job_name(version: str, node_sets: list[ResolvedNodeSet]) -> str:
    """The Job's name, after the change, e.g. `elk-elasticsearch-snapshot-3f2a9c01d4`."""
    return NAMES.suffixed(change_tag(version, node_sets))


def snapshot_name(version: str, node_sets: list[ResolvedNodeSet]) -> str:
    """The snapshot's name in the repository, e.g. `before-9.4.4-3f2a9c01d4`."""
    return f"before-{version}-{change_tag(version, node_sets)}"


def node_names_pattern(node_sets: list[ResolvedNodeSet]) -> str:
    """A regex of the pod (node) names the declared node sets run; any other node is going away."""
    return "^(" + "|".join(names(s).workload for s in node_sets) + ")-[0-9]+$"


def pod_spec(
    version: str,
    node_sets: list[ResolvedNodeSet],
    image: str,
    cluster: ClusterAccess,
    target: common.Target,
) -> dict[str, Any]:
    """A one-off pod: the snapshot script, with the setup Job's client wiring."""
    env = [
        {"name": "SNAPSHOT_BEFORE_CHANGE", "value": snapshot_name(version, node_sets)},
        {"name": "SNAPSHOT_REPOSITORY_NAME", "value": snapshots.REPOSITORY_NAME},
        {"name": "TARGET_VERSION", "value": version},
        {"name": "NODE_NAMES", "value": node_names_pattern(node_sets)},
        {"name": "SNAPSHOT_POLL_ATTEMPTS", "value": str(SNAPSHOT_MINUTES * 60 // POLL_SECONDS)},
        {"name": "SNAPSHOT_POLL_SECONDS", "value": str(POLL_SECONDS)},
    ]
    return one_shot_pod_spec(
        "snapshot", f"{image}:{version}", SNAPSHOT_SCRIPT.name, NAMES, cluster, env, target
    )


def files() -> dict[str, str]:
    """The snapshot Job's script and the client library it sources."""
    return script_files(SNAPSHOT_SCRIPT)
