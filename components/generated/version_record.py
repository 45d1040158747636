"""The version a stack last rolled out, kept in its state, and the refusal of a downgrade.

Elasticsearch cannot read data that a newer version wrote (a 9.2.0 node refuses a 9.4.3
data path: "Codec with name 'Lucene104' does not exist", seen in tests/real), and Kibana
refuses a saved-objects index that a newer Kibana migrated. A lower `elk-stack:version`
must therefore be refused before any pod restarts.

Where the running version comes from: this record in the stack's own state, not the live
StatefulSets or the cluster. The engine hands it to `check` in every preview and `up`, with
no cluster call and no right beyond the namespace; the program itself cannot read the live
objects before it registers them. Every Elasticsearch StatefulSet waits for the record, and
the record waits for the snapshot Job before a change, so it moves on only once the
change is under way: a change stopped by a failed snapshot can still be taken back. Once
it has moved, some node may run the new version, so going back is refused until the
upgrade is finished (docs/operations.md, Upgrades).

Pulumi pickles `VersionRecordProvider` by reference: this module path is in the state of
every stack that has the record. Never move or rename it without a shim.
"""

from __future__ import annotations

import re
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

from components.generated import DynamicResource

VERSION_KEY = "elk-stack:version"
_VERSION = re.compile(r"^([0-9]+)\.([0-9]+)\.([0-9]+)\Z")


def version_tuple(version: Any) -> tuple[int, ...] | None:
    """`9.4.3` as (9, 4, 3); None for a value that is unknown (a preview) or not a version."""
    match = _VERSION.match(version) if isinstance(version, str) else None
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


class VersionRecordProvider(ResourceProvider):
    """Stores the version; refuses, in `check`, a version lower than the stored one."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Refuse a downgrade: the engine shows the reason in `preview` and stops `up` here."""
        refusal = downgrade_refusal(olds.get("version"), news.get("version"))
        return CheckResult(news, [CheckFailure("version", refusal)] if refusal else [])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """An update when the version changes; nothing else is stored."""
        return DiffResult(changes=olds.get("version") != news.get("version"), replaces=[])

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Store the new version: `check` allowed it, so it is not lower."""
        return UpdateResult(outs=news)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """The stored state, unchanged: it exists nowhere else."""
        return ReadResult(id_, props)

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Store the first version; a stack without a record has nothing to compare with."""
        return CreateResult(id_="version-record", outs=props)


class VersionRecord(DynamicResource, module="elk-stack-lifecycle", name="VersionRecord"):
    """The version this stack last rolled out; a lower one is refused before anything restarts."""

    version: pulumi.Output[str]

    def __init__(self, name: str, version: str, opts: pulumi.ResourceOptions | None = None) -> None:
        """Record `version` once the resources in `opts.depends_on` are done."""
        super().__init__(VersionRecordProvider(), name, {"version": version}, opts)
