"""The pods of the two Jobs that make nodes leave safely: `leave` before a change, `settle` after.

Both are named after the declared nodes (a digest of the pod names), so each topology
change gets one new pair that runs once, and a deploy that changes no node set's size or
name gets none. The script (scripts/elasticsearch-topology.sh) compares the live cluster
with the declared pod names, so a rerun after an interrupted `up`, or the change that
takes it back, sets the exclusions to exactly what is needed.
"""

from __future__ import annotations

from typing import Any

from components.configuration import ResolvedNodeSet
from components.specs import common
from components.specs.clients import TOPOLOGY_SCRIPT, ClusterAccess, one_shot_pod_spec, script_files
from components.specs.elasticsearch import names, node_set_pods

APP = "elasticsearch-topology"
NAMES = common.Names(APP)
STEPS = ("leave", "settle")
# How long a drain, or the departure of scaled-down nodes, may take; the Job's await adds
# the wait for the cluster.
DRAIN_MINUTES = 60
POLL_SECONDS = 5


def declared_pods(node_sets: list[ResolvedNodeSet]) -> list[str]:
    """Every pod (node) name the config declares, in config order."""
    return [pod for s in node_sets for pod in node_set_pods(s).pods]


def change_tag(node_sets: list[ResolvedNodeSet]) -> str:
    """A short digest of the declared nodes: it changes exactly when a node would come or go."""
    return common.digest(*sorted(declared_pods(node_sets)))[:10]


def job_name(step: str, node_sets: list[ResolvedNodeSet]) -> str:
    """A step's Job name, e.g. `elk-elasticsearch-topology-leave-3f2a9c01d4`."""
    return NAMES.suffixed(f"{step}-{change_tag(node_sets)}")


def declared_nodes_pattern(node_sets: list[ResolvedNodeSet]) -> str:
    """A regex of exactly the declared node names; a node in the cluster outside it is leaving."""
    return "^(" + "|".join(declared_pods(node_sets)) + ")$"


def declared_sets_pattern(node_sets: list[ResolvedNodeSet]) -> str:
    """A regex of any pod of the declared node sets, the scaled-down ones included."""
    return "^(" + "|".join(names(s).workload for s in node_sets) + ")-[0-9]+$"


def pod_spec(
    step: str,
    node_sets: list[ResolvedNodeSet],
    image: str,
    cluster: ClusterAccess,
    target: common.Target,
) -> dict[str, Any]:
    """A one-off pod: the topology script in `step`'s mode, with the setup Job's client wiring."""
    env = [
        {"name": "TOPOLOGY_STEP", "value": step},
        {"name": "DECLARED_NODES", "value": declared_nodes_pattern(node_sets)},
        {"name": "DECLARED_SETS", "value": declared_sets_pattern(node_sets)},
        {"name": "POLL_ATTEMPTS", "value": str(DRAIN_MINUTES * 60 // POLL_SECONDS)},
        {"name": "POLL_SECONDS", "value": str(POLL_SECONDS)},
    ]
    image_tag = f"{image}:{target.version}"
    return one_shot_pod_spec(step, image_tag, TOPOLOGY_SCRIPT.name, NAMES, cluster, env, target)


def files() -> dict[str, str]:
    """The topology Jobs' script and the client library it sources."""
    return script_files(TOPOLOGY_SCRIPT)
