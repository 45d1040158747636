"""What a stack last rolled out, kept in its state: the refusal of a downgrade or of a shrink that loses data.

A smaller data volume is refused here too, in the stack file's words, before the API server
refuses the claim in words of its own.

Elasticsearch cannot read data that a newer version wrote (a 9.2.0 node refuses a 9.4.3
data path: "Codec with name 'Lucene104' does not exist", seen in tests/real), and Kibana
refuses a saved-objects index that a newer Kibana migrated: a lower `elk-stack:version`
is refused. Removing nodes is refused where the `leave` Job (components/resources/
topology_jobs.py) could not make it safe: more master-eligible nodes leaving at once than
Elasticsearch can exclude from voting, or every data node leaving while the cluster goes
on, with nothing running to take their shards. What the nodes that stay can hold is only
known in the cluster: the Job checks it, with the numbers, before it moves anything.

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

import sys
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
from components.configuration.units import parse_quantity
from components.generated import DynamicResource

VERSION_KEY = "elk-stack:version"
NODES_KEY = "elk-stack:elasticsearch"
RECORDED = ("version", "masters", "data_nodes", "claim_sizes")
# Elasticsearch's `cluster.max_voting_config_exclusions` default.
MAX_VOTING_EXCLUSIONS = 10


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

    The `leave` Job excludes the leaving masters from voting before they stop, so any
    number of them may go while one stays, up to Elasticsearch's limit on exclusions.
    Only within one cluster: when none of the stored masters stays, the master sets are
    new and so is the cluster (docs/elasticsearch.md, Cluster wiring).
    """
    old, new = _pods(stored), _pods(wanted)
    if not old or new is None or not old & new:
        return None
    leaving = len(old - new)
    if leaving <= MAX_VOTING_EXCLUSIONS:
        return None
    return (
        f"{NODES_KEY}: {leaving} of the {len(old)} master-eligible nodes would leave in one step, and "
        f"Elasticsearch excludes at most {MAX_VOTING_EXCLUSIONS} from voting at once; remove at most "
        f"{MAX_VOTING_EXCLUSIONS} per `pulumi up` (docs/operations.md, Removing nodes)"
    )


def drain_refusal(stored: Any, wanted: Any, masters_stay: bool) -> str | None:
    """Why these data nodes may not leave together, or None.

    The `leave` Job moves the shards of leaving data nodes to those that stay, and
    refuses, with the numbers, what they cannot hold; it can only drain to nodes that
    already run. When every data node would leave while the cluster goes on (a master
    stays), nothing could take their shards: add the new nodes in one `up`, then remove
    the old ones in the next.
    """
    old, new = _pods(stored), _pods(wanted)
    if not old or new is None or old & new or not masters_stay:
        return None
    return (
        f"{NODES_KEY}: every data node of the cluster would leave in one step ({', '.join(sorted(old))}), "
        "and the new ones do not run yet to take their shards; add the new node set in one `pulumi up`, "
        "then remove the old one in the next (docs/operations.md, Removing nodes)"
    )


def _sizes(value: Any) -> dict[str, int] | None:
    """Stored or wanted claim sizes in bytes by claim; None when unknown or not recorded yet."""
    if not isinstance(value, dict):
        return None
    try:
        return {str(claim): int(parse_quantity(str(size))) for claim, size in value.items()}
    except ValueError:
        return None


# What a smaller data volume takes instead: the node sets drain into new ones.
DATA_WAY_OUT = (
    "For smaller volumes, add a node set with the smaller size in one `pulumi up` and remove the "
    "old set in the next, which drains its data into the new one (docs/operations.md, Removing nodes)"
)


def shrink_refusal(
    stored: Any, wanted: Any, key: str = f"{NODES_KEY}: storage.size", way_out: str = DATA_WAY_OUT
) -> str | None:
    """Why these volumes may not get smaller, or None.

    Kubernetes refuses a smaller request on a bound claim, and the API server's refusal in
    a preview names a field, not the stack file's key nor a way out.
    """
    old, new = _sizes(stored), _sizes(wanted)
    if not old or not new:
        return None
    shrunk = sorted(claim for claim in old.keys() & new.keys() if new[claim] < old[claim])
    if not shrunk:
        return None
    sizes = ", ".join(f"{claim} from {stored[claim]} to {wanted[claim]}" for claim in shrunk)
    return (
        f"{key} would shrink {sizes}; Kubernetes cannot make a claim smaller, so keep the size "
        f"(a claim only grows). {way_out}"
    )


def masters_stay(stored: Any, wanted: Any) -> bool:
    """Whether a stored master-eligible node stays: the change keeps the same cluster."""
    old, new = _pods(stored), _pods(wanted)
    return bool(old and new is not None and old & new)


def _names(pods: set[str]) -> str:
    return ", ".join(sorted(pods))


def plan(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    """What an allowed change will do, in plain words, for `preview` to show before it happens."""
    lines = []
    old_version, new_version = olds.get("version"), news.get("version")
    if version_tuple(old_version) and version_tuple(new_version) and old_version != new_version:
        lines.append(
            f"{VERSION_KEY} {old_version} → {new_version}: the snapshot Job first (when "
            "elasticsearch.snapshots.beforeUpgrade is on), then the node sets one pod at a time, "
            "coldest tier first and master-eligible sets last"
        )
    old_masters, new_masters = _pods(olds.get("masters")), _pods(news.get("masters"))
    old_data, new_data = _pods(olds.get("data_nodes")), _pods(news.get("data_nodes"))
    if not (old_masters and new_masters is not None and old_masters & new_masters):
        return lines
    if old_masters - new_masters:
        lines.append(
            f"excludes {_names(old_masters - new_masters)} from voting (the topology leave Job), "
            "then removes them; the settle Job clears the exclusions"
        )
    if old_data and new_data is not None and old_data - new_data:
        lines.append(
            f"drains {_names(old_data - new_data)} (the topology leave Job, which refuses first if "
            "the nodes that stay cannot hold their shards), then removes them; their claims stay"
        )
    joining = (new_masters | (new_data or set())) - (old_masters | (old_data or set()))
    if joining:
        lines.append(f"adds {_names(joining)}")
    return lines


class DeployRecordProvider(ResourceProvider):
    """Stores what was rolled out; refuses, in `check`, a downgrade or a shrink that loses data."""

    recorded: tuple[str, ...] = RECORDED
    record_id = "deploy-record"

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """The engine shows each refusal in `preview` and stops `up` on this resource."""
        refusals = [
            ("version", downgrade_refusal(olds.get("version"), news.get("version"))),
            ("masters", quorum_refusal(olds.get("masters"), news.get("masters"))),
            (
                "data_nodes",
                drain_refusal(
                    olds.get("data_nodes"),
                    news.get("data_nodes"),
                    masters_stay(olds.get("masters"), news.get("masters")),
                ),
            ),
            ("claim_sizes", shrink_refusal(olds.get("claim_sizes"), news.get("claim_sizes"))),
        ]
        failures = [CheckFailure(key, reason) for key, reason in refusals if reason]
        if not failures:
            # A dynamic provider has no engine connection: its stderr is how the engine
            # shows a message beside the resource.
            for line in plan(olds, news):
                print(f"elk-stack plan: {line}", file=sys.stderr)
        return CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Store the first state; a stack without a record has nothing to compare with."""
        return CreateResult(id_=self.record_id, outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """An update when anything recorded changes."""
        return DiffResult(changes=any(olds.get(key) != news.get(key) for key in self.recorded), replaces=[])

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
        claim_sizes: dict[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Record the version, pod names and data claim sizes once `opts.depends_on` are done."""
        props = {
            "version": version,
            "masters": list(masters),
            "data_nodes": list(data_nodes),
            "claim_sizes": dict(claim_sizes or {}),
        }
        super().__init__(DeployRecordProvider(), name, props, opts)


class ClaimRecordProvider(DeployRecordProvider):
    """Stores the sizes of a component's claims; refuses, in `check`, a smaller one.

    Stored, compared and updated as the deploy record is; only the check differs.
    """

    recorded = ("claim_sizes",)
    record_id = "claim-record"

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """The refusal names the stack file's key (`key`) and what to do instead (`way_out`)."""
        reason = shrink_refusal(
            olds.get("claim_sizes"), news.get("claim_sizes"), str(news.get("key")), str(news.get("way_out"))
        )
        return CheckResult(news, [CheckFailure("claim_sizes", reason)] if reason else [])


class ClaimRecord(DynamicResource, module="elk-stack-lifecycle", name="ClaimRecord"):
    """The sizes of claims outside Elasticsearch's deploy record (Logstash's queues).

    The claims wait for it, so a smaller size is refused in the stack file's words before
    the API server refuses the claim.
    """

    def __init__(
        self,
        name: str,
        claim_sizes: dict[str, str],
        key: str,
        way_out: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {"claim_sizes": dict(claim_sizes), "key": key, "way_out": way_out}
        super().__init__(ClaimRecordProvider(), name, props, opts)
