"""What a stack last rolled out, kept in its state: the refusal of a downgrade or of a shrink that loses data.

Elasticsearch cannot read data that a newer version wrote (a 9.2.0 node refuses a 9.4.3
data path: "Codec with name 'Lucene104' does not exist", seen in tests/real), and Kibana
refuses a saved-objects index that a newer Kibana migrated: a lower `elk-stack:version`
is refused. Removing nodes is refused where it could lose the cluster or a shard: a
master-eligible node set that keeps fewer than a majority of its masters has no quorum,
and data nodes leaving together may hold every copy of a shard (the stack drains nothing
yet, so no more may leave in one step than there are replicas of each shard).

Where the running state comes from: this record in the stack's own state, not the live
StatefulSets or the cluster. The engine hands it to `check` in every preview and `up`, with
no cluster call and no right beyond the namespace; the program itself cannot read the live
objects before it registers them. Every Elasticsearch StatefulSet waits for the record, and
the record waits for the snapshot Job before a change, so it moves on only once the
change is under way: a change stopped by a failed snapshot can still be taken back
(docs/operations.md, Upgrades and rollouts).

Pulumi pickles `DeployRecordProvider` by reference: this module path is in the state of
every stack that has the record. Never move or rename it without a shim.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from components.configuration.base import VERSION
from components.configuration.sizing import replicas_for
from components.generated import DynamicResource

VERSION_KEY = "elk-stack:version"
NODES_KEY = "elk-stack:elasticsearch"
RECORDED = ("version", "masters", "data_nodes")


def version_tuple(version: Any) -> tuple[int, ...] | None:
    """`9.4.3` as (9, 4, 3); None for a value that is unknown (a preview) or not a version."""
    match = VERSION.match(version) if isinstance(version, str) else None
    return tuple(int(part) for part in match.groups()) if match else None


def downgrade_refusal(stored: Any, wanted: Any) -> str | None:
    """Why going from the stored version to the wanted one is refused, or None when it is not a downgrade."""
    old, new = version_tuple(stored), version_tuple(wanted)
    if old is None or new is None or new >= old:
        return None
    return (
        f"{VERSION_KEY} is {wanted}, older than {stored}, which this stack already rolled out: "
        "Elasticsearch cannot read data a newer version wrote, so a downgrade is refused before "
        "any pod restarts; set it back to "
        f"{stored} or later (to go back, restore a snapshot into a new stack)"
    )


def _pods(value: Any) -> set[str] | None:
    """A stored or wanted list of pod names; None when unknown (a preview, a record without it)."""
    return {str(pod) for pod in value} if isinstance(value, list | tuple) else None


def quorum_refusal(stored: Any, wanted: Any) -> str | None:
    """Why the master-eligible nodes may not change so, or None.

    Only within one cluster: when none of the stored masters stays, the master sets are new
    and so is the cluster (docs/elasticsearch.md, Cluster wiring).
    """
    old, new = _pods(stored), _pods(wanted)
    if not old or new is None:
        return None
    staying, quorum = len(old & new), len(old) // 2 + 1
    if staying == 0 or staying >= quorum:
        return None
    at_most = len(old) - quorum
    advice = (
        f"remove at most {at_most} at a time, each `pulumi up` once the cluster is green"
        if at_most
        else "going lower needs Elasticsearch's voting exclusions first, which the stack does not make yet"
    )
    return (
        f"{NODES_KEY}: {len(old) - staying} of the {len(old)} master-eligible nodes would leave in one "
        f"step, and the {staying} that stay are fewer than the {quorum} of a quorum, so the cluster "
        f"would stop; {advice} (docs/operations.md, Removing nodes)"
    )


def drain_refusal(stored: Any, wanted: Any) -> str | None:
    """Why these data nodes may not leave together, or None.

    A shard's copies are on different nodes, so with R replicas any R nodes may go at once
    without losing a copy; more may hold every copy of some shard. Within one cluster only,
    as for the quorum.
    """
    old, new = _pods(stored), _pods(wanted)
    if not old or new is None or not old & new:
        return None
    leaving, replicas = sorted(old - new), replicas_for(len(old))
    if len(leaving) <= replicas:
        return None
    return (
        f"{NODES_KEY}: {len(leaving)} data nodes would leave in one step ({', '.join(leaving)}), "
        f"more than the {replicas} replica(s) of each shard: a shard whose every copy is on them "
        f"would be lost; remove at most {replicas} at a time, each `pulumi up` once the cluster is "
        "green, or move the data off them first (docs/operations.md, Removing nodes)"
    )


class DeployRecordProvider(ResourceProvider):
    """Stores what was rolled out; refuses, in `check`, a downgrade or a shrink that loses data."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """The engine shows each refusal in `preview` and stops `up` on this resource."""
        refusals = [
            ("version", downgrade_refusal(olds.get("version"), news.get("version"))),
            ("masters", quorum_refusal(olds.get("masters"), news.get("masters"))),
            ("data_nodes", drain_refusal(olds.get("data_nodes"), news.get("data_nodes"))),
        ]
        return CheckResult(news, [CheckFailure(key, reason) for key, reason in refusals if reason])

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Store the first state; a stack without a record has nothing to compare with."""
        return CreateResult(id_="deploy-record", outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """An update when anything recorded changes."""
        return DiffResult(changes=any(olds.get(key) != news.get(key) for key in RECORDED), replaces=[])

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Store the new state: `check` allowed it."""
        return UpdateResult(outs=news)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """The stored state, unchanged: it exists nowhere else."""
        return ReadResult(id_, props)


class DeployRecord(DynamicResource, module="elk-stack-lifecycle", name="DeployRecord"):
    """What this stack last rolled out; a downgrade or a shrink that loses data is refused up front."""

    version: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        version: str,
        masters: Sequence[str],
        data_nodes: Sequence[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Record the version and pod names once the resources in `opts.depends_on` are done."""
        props = {"version": version, "masters": list(masters), "data_nodes": list(data_nodes)}
        super().__init__(DeployRecordProvider(), name, props, opts)
