"""The record of a cluster's first deploy, as a dynamic resource that never changes.

The program must know whether the cluster existed before this run (it orders the roll of
node sets by it) and which masters formed it: `ClusterFormation` stores the id of the run
that created it and the initial masters, and every later run gets them back
(docs/elasticsearch.md, Rollouts). Pulumi pickles `FormationProvider` by reference, so its
module path is in the state of every stack: stacks created before this module existed name
`components.elasticsearch_cluster.FormationProvider`, which `components/elasticsearch_cluster.py`
still provides.
"""

from __future__ import annotations

import uuid
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider

from components.generated import DynamicResource


class FormationProvider(ResourceProvider):
    """Keeps the inputs it was created with: no input change ever reaches the stored outputs."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Store the creating run's id."""
        return CreateResult(id_=f"formation-{uuid.uuid4().hex}", outs=props)

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> DiffResult:
        """Never changes, so every later run gets the creating run's id back."""
        return DiffResult(changes=False)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """The stored state, unchanged: it exists nowhere else."""
        return ReadResult(id_, props)


class ClusterFormation(DynamicResource, module="elk-stack-lifecycle", name="ClusterFormation"):
    """The record of a cluster's first deploy: did it exist before this run, which masters formed it.

    Its logical name carries the master-eligible sets, so a new set of masters (the inline
    form turned into node sets: a new cluster) counts as a new cluster again.
    """

    run: pulumi.Output[str]
    initial_masters: pulumi.Output[str]
    existed: pulumi.Output[bool]

    def __init__(self, name: str, initial_masters: str, opts: pulumi.ResourceOptions | None = None) -> None:
        """Record this run's id and the masters if the record is new; otherwise the stored ones come back."""
        this_run = uuid.uuid4().hex
        # Secret only to keep renders reproducible: the id is no secret.
        props = {"run": pulumi.Output.secret(this_run), "initial_masters": initial_masters}
        super().__init__(FormationProvider(), name, props, opts)
        self.existed = self.run.apply(lambda stored: stored != this_run)
