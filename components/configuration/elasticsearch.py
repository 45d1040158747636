"""The `elasticsearch` section: one node inline, or node sets; TLS, retention and capacity."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, model_validator

from components.configuration import sizing
from components.configuration.base import (
    ConfigModel,
    DnsSubdomain,
    ImageRepository,
    JvmSize,
    Replicas,
    rule_violations,
)
from components.configuration.retention import Retention
from components.configuration.snapshots import Snapshots
from components.configuration.units import parse_quantity
from components.configuration.workload import JvmService, ResourceAmounts, Resources, Storage, default_heap

# Elasticsearch sizes its thread pools from `node.processors`, by default the processors
# the JVM sees: every core of the host without a CPU limit. Set from the limit, the sizing
# is explicit in the render and can be lowered (ECK sets it from the limit too); the start
# script lowers a value above what the host offers, which Elasticsearch would refuse.
Processors = Annotated[int, Field(ge=1, le=1024)]
PROCESSORS_DESCRIPTION = (
    "`node.processors`, 1 to 1024: the CPUs each node sizes its thread pools for; default the "
    "CPU limit rounded up, and unset without a CPU limit (the JVM then counts the host's cores)."
)


def processors_from(resources: Resources) -> int | None:
    """The CPU limit rounded up to whole processors; None without a limit."""
    limit = resources.limits.cpu
    return math.ceil(parse_quantity(limit)) if limit else None


CaRotation = Literal["trust", "switch"]
MAX_CA_GENERATION = 1000


class ElasticsearchTls(ConfigModel):
    """Certificates for Elasticsearch's transport (always, with security) and HTTP layers."""

    http: bool = Field(True, description="Serve HTTPS on 9200; Logstash and Kibana verify it against the CA.")
    existing_secret: DnsSubdomain | None = Field(
        None,
        description=(
            "Use your own PKI: an existing Secret with `ca.crt`, `tls.crt` and `tls.key`, one certificate "
            "all nodes share, which must cover the Service and pod DNS names. Omitted = generate a CA and "
            "one key and certificate per node."
        ),
    )
    validity_days: int = Field(
        365,
        ge=30,
        le=3650,
        description="Lifetime of generated certificates, 30 to 3650 days (the CA lives ten times as long).",
    )
    early_renewal_days: int = Field(
        30,
        ge=1,
        description=(
            "A `pulumi up` this many days before expiry issues new certificates; the render and "
            "`pulumi preview` warn from then, and from 30 days before expiry."
        ),
    )

    ca_generation: int = Field(
        0,
        ge=0,
        le=MAX_CA_GENERATION,
        description=(
            "Which generated CA the stack uses, 0 at first; one more starts a CA rotation "
            "(with `caRotation`, see docs/security.md#rotating-the-ca)."
        ),
    )
    ca_rotation: CaRotation | None = Field(
        None,
        description=(
            "A CA rotation in progress: `trust` trusts CA `caGeneration` beside the one before "
            "while certificates still come from the old one, `switch` issues them from the new "
            "one, and omitting it again drops the old CA. One step per `pulumi up`."
        ),
    )

    @model_validator(mode="after")
    def _renewal_inside_validity(self) -> ElasticsearchTls:
        violations = []
        if self.early_renewal_days >= self.validity_days:
            violations.append(
                (
                    "earlyRenewalDays",
                    f"{self.early_renewal_days} must be less than validityDays ({self.validity_days})",
                )
            )
        violations += self._rotation_violations()
        rule_violations(violations)
        return self

    def _rotation_violations(self) -> list[tuple[str, str]]:
        """A rotation needs a CA before the new one, and a CA of ours to rotate."""
        if self.ca_rotation is None and self.ca_generation == 0:
            return []
        if self.existing_secret:
            key = "caRotation" if self.ca_rotation else "caGeneration"
            return [(key, "rotates the generated CA, and existingSecret replaces it: set one of them")]
        if self.ca_rotation is not None and self.ca_generation == 0:
            return [("caRotation", "rotates to CA caGeneration, which must be 1 or more (the CA after 0)")]
        return []

    @property
    def rotation_stage(self) -> str | None:
        """Where the CA rotation stands, e.g. `1-trust`; None for a stack that never rotated.

        In the nodes' pod template it rolls them at every step, so that `pulumi up` returns
        only when every node holds the step's files, and the next step cannot overtake it.
        """
        if self.ca_generation == 0 and self.ca_rotation is None:
            return None
        return "-".join(filter(None, (str(self.ca_generation), self.ca_rotation)))


Role = Literal[
    "master",
    "data",
    "data_content",
    "data_hot",
    "data_warm",
    "data_cold",
    "data_frozen",
    "ingest",
    "ml",
    "remote_cluster_client",
    "transform",
]
AntiAffinity = Literal["soft", "hard", "none"]
# Elastic's rolling-upgrade order for the nodes that are not master-eligible: frozen, cold,
# warm, then hot (with content and the generic `data` role, which holds hot data), then the
# nodes in no tier. Data only ever moves to newer nodes: ILM moves it to colder tiers, which
# are upgraded first, and a node cannot read shards that a newer version wrote.
UPGRADE_TIERS: tuple[frozenset[str], ...] = (
    frozenset({"data_frozen"}),
    frozenset({"data_cold"}),
    frozenset({"data_warm"}),
    frozenset({"data_hot", "data_content", "data"}),
)
_NODE_SET_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,18}[a-z0-9])?\Z")
# elk-elasticsearch-<name> must not be the name of another object of the stack.
_RESERVED_NODE_SET_NAMES = {
    "setup": "setup Job's objects",
    "snapshot": "snapshot Job's objects",
    "topology": "topology Jobs' objects",
}


def _es_resources() -> Resources:
    """2Gi of memory (request = limit) and a CPU request with no CPU limit.

    A CPU limit is a CFS quota: it throttles Elasticsearch's bursts (merges, recoveries,
    searches) even on an idle host. So the default reserves CPU and lets it burst; a user
    may still set a limit.
    """
    return Resources(requests=ResourceAmounts(cpu="500m", memory="2Gi"), limits=ResourceAmounts(memory="2Gi"))


def _check_node_set_name(name: str) -> str:
    # <claim>-elk-elasticsearch-<name>-<ordinal> must stay a valid 63-character label.
    if name in _RESERVED_NODE_SET_NAMES:
        raise ValueError(
            f"{name!r} is reserved for the {_RESERVED_NODE_SET_NAMES[name]}; choose another name"
        )
    if not _NODE_SET_NAME.match(name):
        raise ValueError(
            f"{name!r} is not a node set name: lower-case letters, digits and '-', starting with a "
            "letter, at most 20 characters"
        )
    return name


def _has_data_role(roles: tuple[str, ...] | None) -> bool:
    return roles is None or any(role == "data" or role.startswith("data_") for role in roles)


# The tiers Elasticsearch allocates new indices to: a data stream's backing indices go to
# the hot tier, every other index (system indices such as .security and .kibana among
# them) to the content tier. Elastic calls both tiers required; the `data` role belongs
# to every tier (elastic.co/docs/deploy-manage/distributed-architecture/clusters-nodes-shards/node-roles).
_REQUIRED_TIERS = {
    "data_content": "system indices (.security, .kibana) and other indices outside data streams",
    "data_hot": "the backing indices of new data streams (where Logstash writes the logs)",
}


def _missing_tiers(sets: list[ResolvedNodeSet]) -> list[str]:
    """Why the cluster could not allocate new indices: a required tier no node set holds."""
    roles = [set(s.roles) if s.roles is not None else {"data"} for s in sets]
    return [
        f"no node set has the role {tier} or data, so {what} could never be allocated; "
        f"add {tier} to a node set's roles"
        for tier, what in _REQUIRED_TIERS.items()
        if not any(tier in r or "data" in r for r in roles)
    ]


@dataclass(frozen=True)
class ResolvedNodeSet:
    """One group of identical nodes, whichever config form described it.

    The simple single-node form becomes one node set named "" (its objects keep their
    names) with every role; `path` is where its keys live, for messages.
    """

    name: str
    replicas: int
    roles: tuple[str, ...] | None
    heap: str
    resources: Resources
    storage: Storage
    anti_affinity: str
    path: str
    processors: int | None = None
    """`node.processors`: what the node sizes its thread pools for; None lets the JVM count."""

    @property
    def master_eligible(self) -> bool:
        """Whether these nodes may be elected master."""
        return self.roles is None or "master" in self.roles

    @property
    def upgrade_rank(self) -> int:
        """Its place in Elastic's upgrade order (`UPGRADE_TIERS`): its coldest tier, or after them all."""
        roles = set(self.roles or ())
        return next((rank for rank, tier in enumerate(UPGRADE_TIERS) if roles & tier), len(UPGRADE_TIERS))

    @property
    def holds_data(self) -> bool:
        """Whether these nodes store shards (and so need sized disks)."""
        return _has_data_role(self.roles)

    @property
    def serves_http(self) -> bool:
        """Whether clients should talk to these nodes: any node that is not a dedicated master."""
        return self.roles is None or self.holds_data or "ingest" in self.roles


@dataclass(frozen=True)
class VolumeCheck:
    """One data node set's volume size against the capacity estimate."""

    path: str
    replicas: int
    configured: str
    needed: sizing.CapacityEstimate
    default: bool = False
    """Whether `configured` is the default size, which the message then says."""

    @property
    def configured_bytes(self) -> int:
        """The configured size in bytes."""
        return math.ceil(parse_quantity(self.configured))

    @property
    def enough(self) -> bool:
        """Whether each node's volume holds its share of the retained logs."""
        return self.configured_bytes >= self.needed.per_node_bytes

    @property
    def shortfall(self) -> str:
        """The problem, without the key path, e.g. `10Gi is smaller than the ~29.5Gi ...`."""
        line = sizing.shortfall_message(self.path, self.configured_bytes, self.needed, self.configured)
        if self.default:
            line += f"; {self.configured} is the default size: set {self.path} to change it"
        return line.removeprefix(f"{self.path}: ")


class NodeSet(JvmService):
    """A group of identical Elasticsearch nodes: one StatefulSet, one PVC per node."""

    HEAP_SHARE = Decimal("0.5")

    resources: Resources = Field(
        default_factory=_es_resources,
        description=(
            "Requests and limits; default 500m CPU requested and no CPU limit, 2Gi memory. "
            "Keys left out keep their default."
        ),
    )
    name: Annotated[str, AfterValidator(_check_node_set_name)] = Field(
        description="Required. Names the StatefulSet `elk-elasticsearch-<name>`; at most 20 characters."
    )
    replicas: Replicas = Field(1, ge=1, description="Number of nodes in the set, at most 100.")
    roles: list[Role] = Field(
        min_length=1, description="Required. Node roles, e.g. `[master]` or `[data, ingest]`."
    )
    heap: JvmSize | None = Field(None, description="JVM heap; at most 50% of the memory limit; default 50%.")
    storage: Storage = Field(
        default_factory=lambda: Storage(size="10Gi"),
        description="The data volume of each node; default 10Gi.",
    )
    anti_affinity: AntiAffinity | None = Field(
        None, description="Overrides `elasticsearch.antiAffinity` for this set."
    )
    processors: Processors | None = Field(None, description=PROCESSORS_DESCRIPTION)


class Capacity(ConfigModel):
    """Expected log volume, to check that the data volumes can hold `retention.maxAge` of it."""

    events_per_day: int = Field(ge=1, description="Required. Log events per day, e.g. `2000000`.")
    avg_event_bytes: int = Field(ge=1, description="Required. Average size of one event as sent, in bytes.")
    enforce: bool = Field(
        False, description="Fail validation (instead of warning) when a volume is too small."
    )


class ElasticsearchConfig(JvmService):
    """Elasticsearch: either one node set described inline, or `nodeSets`."""

    HEAP_SHARE = Decimal("0.5")
    INLINE_KEYS: ClassVar[tuple[str, ...]] = ("replicas", "heap", "resources", "storage", "processors")

    replicas: Replicas = Field(
        1, ge=1, description="Number of nodes (at most 100), each holding every role; or use `nodeSets`."
    )
    image: ImageRepository = Field(
        "docker.elastic.co/elasticsearch/elasticsearch",
        description="Image repository; the tag is the top-level `version`.",
    )
    heap: JvmSize | None = Field(
        None,
        description="JVM heap (`-Xms` = `-Xmx`), e.g. `2g`. At most 50% of the memory limit; default 50%.",
    )
    resources: Resources = Field(
        default_factory=_es_resources,
        description=(
            "Requests and limits; default 500m CPU requested and no CPU limit, 2Gi memory. "
            "Keys left out keep their default."
        ),
    )
    storage: Storage = Field(
        default_factory=lambda: Storage(size="10Gi"),
        description="The data volume, mounted at `/usr/share/elasticsearch/data`; default 10Gi, protected.",
    )
    processors: Processors | None = Field(None, description=PROCESSORS_DESCRIPTION)
    node_sets: list[NodeSet] | None = Field(
        None,
        description=(
            "Node sets with their own roles, sizes and volumes, e.g. dedicated masters and data "
            "nodes. Replaces `replicas`, `heap`, `resources` and `storage`."
        ),
    )
    anti_affinity: AntiAffinity = Field(
        "soft",
        description="Spread each node set over hosts: `soft` (preferred), `hard` (required) or `none`.",
    )
    tls: ElasticsearchTls = Field(default_factory=ElasticsearchTls, description="TLS, when security is on.")
    retention: Retention = Field(default_factory=Retention, description="Retention of log data.")
    capacity: Capacity | None = Field(
        None, description="Expected log volume; checks the data volumes against it (see `make size`)."
    )
    snapshots: Snapshots | None = Field(
        None, description="Snapshots to a repository outside the cluster; omitted = none (see Snapshots)."
    )

    @model_validator(mode="before")
    @classmethod
    def _inline_or_node_sets(cls, data: Any) -> Any:
        """Refuse a mix of both forms, which would leave it unclear what is deployed."""
        if isinstance(data, dict) and data.get("nodeSets") is not None:
            rule_violations(
                [
                    (key, "cannot be combined with nodeSets; set it per node set")
                    for key in cls.INLINE_KEYS
                    if data.get(key) is not None
                ]
            )
        return data

    @model_validator(mode="after")
    def _cluster_shape(self) -> ElasticsearchConfig:
        problems: list[tuple[str, str]] = []
        if self.node_sets is not None:
            names = [node_set.name for node_set in self.node_sets]
            problems += [
                (f"nodeSets[{index}].name", f"{name!r} is used by more than one node set")
                for index, name in enumerate(names)
                if names.index(name) != index
            ]
        sets = self.resolved_node_sets()
        where = "nodeSets" if self.node_sets is not None else "replicas"
        masters = sum(s.replicas for s in sets if s.master_eligible)
        if masters == 0:
            problems.append((where, "no master-eligible node: give one node set the master role"))
        elif masters == 2:
            problems.append(
                (
                    where,
                    "2 master-eligible nodes cannot tolerate the loss of either (a quorum of 2 is 2); "
                    "use 1 or 3",
                )
            )
        if not any(s.holds_data for s in sets):
            problems.append((where, "no data node: give one node set the data role"))
        else:
            problems += [(where, message) for message in _missing_tiers(sets)]
        rule_violations(problems)
        return self

    def resolved_node_sets(self) -> list[ResolvedNodeSet]:
        """The node sets to deploy; the inline form is one set with every role."""
        if self.node_sets is None:
            return [
                ResolvedNodeSet(
                    name="",
                    replicas=self.replicas,
                    roles=None,
                    heap=self.heap or default_heap(self.resources),
                    resources=self.resources,
                    storage=self.storage,
                    anti_affinity=self.anti_affinity,
                    path="elasticsearch",
                    processors=self.processors or processors_from(self.resources),
                )
            ]
        return [
            ResolvedNodeSet(
                name=node_set.name,
                replicas=node_set.replicas,
                roles=tuple(node_set.roles),
                heap=node_set.heap or default_heap(node_set.resources),
                resources=node_set.resources,
                storage=node_set.storage,
                anti_affinity=node_set.anti_affinity or self.anti_affinity,
                path=f"elasticsearch.nodeSets[{index}]",
                processors=node_set.processors or processors_from(node_set.resources),
            )
            for index, node_set in enumerate(self.node_sets)
        ]

    @model_validator(mode="after")
    def _enforced_capacity(self) -> ElasticsearchConfig:
        if self.capacity is not None and self.capacity.enforce:
            rule_violations(
                [(path.removeprefix("elasticsearch."), message) for path, message in self._shortfalls()]
            )
        return self

    def capacity_estimate(self) -> sizing.CapacityEstimate | None:
        """The disk each data node needs for `capacity` over `retention.maxAge`, if capacity is set."""
        if self.capacity is None:
            return None
        return sizing.estimate(
            self.capacity.events_per_day,
            self.capacity.avg_event_bytes,
            self.retention.days,
            self.data_nodes,
            sizing.replicas_for(self.data_nodes),
        )

    def volume_checks(self) -> list[VolumeCheck]:
        """Each data node set's volume against the estimate; empty without `capacity`."""
        needed = self.capacity_estimate()
        if needed is None:
            return []
        defaulted = {"elasticsearch": "storage" not in self.model_fields_set} | {
            f"elasticsearch.nodeSets[{index}]": "storage" not in node_set.model_fields_set
            for index, node_set in enumerate(self.node_sets or [])
        }
        return [
            VolumeCheck(f"{s.path}.storage.size", s.replicas, s.storage.size, needed, defaulted[s.path])
            for s in self.data_node_sets()
        ]

    def _shortfalls(self) -> list[tuple[str, str]]:
        """(key path, message) for each data node set whose volume cannot hold the retained logs."""
        return [(check.path, check.shortfall) for check in self.volume_checks() if not check.enough]

    def capacity_shortfalls(self) -> list[str]:
        """Warnings for preview and render when a data volume is smaller than the estimate."""
        return [f"{path}: {message}" for path, message in self._shortfalls()]

    def data_node_sets(self) -> list[ResolvedNodeSet]:
        """The node sets that hold shards, whose volumes must fit the retained logs."""
        return [s for s in self.resolved_node_sets() if s.holds_data]

    @property
    def data_nodes(self) -> int:
        """How many nodes hold shards; with one, replicas cannot be allocated."""
        return sum(s.replicas for s in self.data_node_sets())
