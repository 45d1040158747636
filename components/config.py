"""The stack's configuration: parse, validate and default the `elk-stack:*` keys.

This is the only layer that knows what users typed. Everything below it receives complete,
validated models, so a component can trust that a heap fits its limit, a quantity parses
and a pipeline file exists. Every rule reports the key by the path a user would pass to
`pulumi config set --path`, and all problems are reported at once.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import typing
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from components import sizing
from components.pipeline import (
    PIPELINE_VARIABLES,
    default_pipeline,
    listening_ports,
    pipeline_variables,
    referenced_variables,
)
from components.units import java_heap_options, jvm_size, parse_jvm_size, parse_logstash_bytes, parse_quantity

PROJECT = "elk-stack"
MIN_VERSION = (8, 0)
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_VERSION = re.compile(r"^(?P<major>[0-9]+)\.(?P<minor>[0-9]+)\.(?P<patch>[0-9]+)\Z")


class ConfigError(Exception):
    """Invalid stack config: one line per problem, each naming the key's full path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            f"invalid {PROJECT} config ({len(problems)} problem"
            f"{'s' if len(problems) != 1 else ''}):\n" + "\n".join(f"  - {p}" for p in problems)
        )


def _rule_violations(problems: list[tuple[str, str]]) -> None:
    """Raise one pydantic error carrying several (relative key, message) problems.

    A model validator can only raise once and only at the model's own path; carrying the
    relative keys lets the report name e.g. `elasticsearch.heap` rather than `elasticsearch`.
    """
    if problems:
        raise PydanticCustomError(
            "elk_rules",
            "{summary}",
            {"summary": "; ".join(message for _, message in problems), "problems": problems},
        )


def _number_to_text(value: Any) -> Any:
    """Accept YAML numbers (`cpu: 1`) where a quantity string is expected."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return str(value)
    return value


def _check_quantity(text: str) -> str:
    parse_quantity(text)
    return text


def _check_jvm_size(text: str) -> str:
    parse_jvm_size(text)
    return text


def _check_logstash_bytes(text: str) -> str:
    parse_logstash_bytes(text)
    return text


def _check_dns_label(text: str) -> str:
    if len(text) > 63 or not _DNS_LABEL.match(text):
        raise ValueError(
            f"{text!r} is not a DNS-1123 label: lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters"
        )
    return text


Quantity = Annotated[str, BeforeValidator(_number_to_text), AfterValidator(_check_quantity)]
JvmSize = Annotated[str, BeforeValidator(_number_to_text), AfterValidator(_check_jvm_size)]
LogstashBytes = Annotated[str, AfterValidator(_check_logstash_bytes)]
DnsLabel = Annotated[str, AfterValidator(_check_dns_label)]


class _Model(BaseModel):
    """Strict keys in camelCase, as stack files use; snake_case in Python.

    Validators fill derived defaults (heap, requests, storage class) in place, so the
    models components receive are complete; components treat them as read-only.
    """

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class ResourceAmounts(_Model):
    """CPU and memory for one side (requests or limits) of a container's resources."""

    cpu: Quantity | None = Field(None, description="CPU as a Kubernetes quantity, e.g. `500m` or `1`.")
    memory: Quantity | None = Field(None, description="Memory as a Kubernetes quantity, e.g. `2Gi`.")


class Resources(_Model):
    """Container requests and limits; the memory limit is what every heap is sized from."""

    requests: ResourceAmounts = Field(
        default_factory=ResourceAmounts,
        description="What the scheduler reserves. An unset memory request follows the memory limit.",
    )
    limits: ResourceAmounts = Field(
        default_factory=ResourceAmounts,
        description="Hard caps. Elasticsearch and Logstash size their heap from `memory`.",
    )

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        problems: list[tuple[str, str]] = []
        if self.limits.memory is None:
            problems.append(("limits.memory", "a memory limit is required: the JVM heap is sized from it"))
        requests = {
            "cpu": self.requests.cpu or self.limits.cpu,
            "memory": self.requests.memory or self.limits.memory,
        }
        if requests["cpu"] is None:
            problems.append(("requests.cpu", "a CPU request (or a CPU limit to copy it from) is required"))
        for resource, request in requests.items():
            limit = getattr(self.limits, resource)
            if request and limit and parse_quantity(request) > parse_quantity(limit):
                problems.append((f"requests.{resource}", f"the request {request} exceeds the limit {limit}"))
        _rule_violations(problems)
        self.requests = ResourceAmounts(**requests)
        return self

    @property
    def memory_limit_bytes(self) -> Decimal:
        """The memory limit in bytes; validation guarantees it is set."""
        assert self.limits.memory is not None
        return parse_quantity(self.limits.memory)


def _resources(cpu_request: str, cpu_limit: str, memory: str) -> Resources:
    return Resources(
        requests=ResourceAmounts(cpu=cpu_request, memory=memory),
        limits=ResourceAmounts(cpu=cpu_limit, memory=memory),
    )


def _completed_resources(given: dict[str, Any], default: Resources) -> dict[str, Any]:
    """Fill what a partial `resources` leaves out from the component's defaults.

    `pulumi config set --path elasticsearch.resources.limits.memory 4Gi` should raise the
    limit, not drop every other default. A memory request the user did not set follows the
    memory limit; a default CPU request is capped at a lower CPU limit the user set.
    """
    limits, requests = given.get("limits", {}), given.get("requests", {})
    if not isinstance(limits, dict) or not isinstance(requests, dict):
        return given
    limits = {**default.limits.model_dump(exclude_none=True), **limits}
    requests = dict(requests)
    if "cpu" not in requests and default.requests.cpu is not None:
        requests["cpu"] = default.requests.cpu
        try:
            if parse_quantity(str(limits["cpu"])) < parse_quantity(default.requests.cpu):
                requests["cpu"] = limits["cpu"]
        except (KeyError, ValueError):
            pass  # no or an invalid CPU limit: the field validators report the latter
    return {**given, "limits": limits, "requests": requests}


class _Workload(_Model):
    """A component with container resources, whose defaults complete partial user input."""

    resources: Resources

    @classmethod
    def _default_resources(cls) -> Resources:
        factory = cls.model_fields["resources"].default_factory
        assert factory is not None
        default: Resources = factory()  # type: ignore[call-arg]
        return default

    @model_validator(mode="before")
    @classmethod
    def _complete_resources(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("resources"), dict):
            data = {**data, "resources": _completed_resources(data["resources"], cls._default_resources())}
        return data


class Storage(_Model):
    """A PersistentVolumeClaim per replica."""

    size: Quantity = Field(description="Requested size, e.g. `10Gi`.")
    storage_class: str | None = Field(
        None, description="Storage class; omitted = the top-level `storageClass`, then the cluster default."
    )
    protect: bool = Field(
        True, description="Pulumi `protect`: refuse to delete the claim, even on `pulumi destroy`."
    )

    @field_validator("size")
    @classmethod
    def _positive(cls, size: str) -> str:
        if parse_quantity(size) <= 0:
            raise ValueError(f"{size!r} must be larger than zero")
        return size


class Service(_Model):
    """How a component is exposed."""

    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field(
        "ClusterIP", description="Kubernetes Service type: `ClusterIP`, `NodePort` or `LoadBalancer`."
    )


class Ingress(_Model):
    """An optional networking.k8s.io/v1 Ingress in front of Kibana."""

    host: str = Field(description="Public host name, e.g. `kibana.qa.example.com`.")
    class_name: str | None = Field(None, description="`ingressClassName`, e.g. `nginx`.")
    tls_secret_name: str | None = Field(
        None, description="Existing TLS Secret for the host; set = the public URL uses https."
    )

    @field_validator("host")
    @classmethod
    def _dns_name(cls, host: str) -> str:
        if len(host) > 253 or not _DNS_NAME.match(host):
            raise ValueError(f"{host!r} is not a DNS host name")
        return host


def _default_heap(resources: Resources) -> str:
    """Half the memory limit, in whole MiB: the share Elastic recommends for the heap."""
    return jvm_size(int(resources.memory_limit_bytes / 2))


class ElasticsearchTls(_Model):
    """Certificates for Elasticsearch's transport (always, with security) and HTTP layers."""

    http: bool = Field(True, description="Serve HTTPS on 9200; Logstash and Kibana verify it against the CA.")
    existing_secret: DnsLabel | None = Field(
        None,
        description=(
            "Use your own PKI: an existing Secret with `ca.crt`, `tls.crt` and `tls.key`; its certificate "
            "must cover the Service and pod DNS names. Omitted = generate a CA and node certificate."
        ),
    )
    validity_days: int = Field(
        365, ge=30, description="Lifetime of generated certificates (the CA lives ten times as long)."
    )
    early_renewal_days: int = Field(
        30, ge=1, description="A `pulumi up` this many days before expiry issues new certificates."
    )

    @model_validator(mode="after")
    def _renewal_inside_validity(self) -> ElasticsearchTls:
        if self.early_renewal_days >= self.validity_days:
            _rule_violations(
                [
                    (
                        "earlyRenewalDays",
                        f"{self.early_renewal_days} must be less than validityDays ({self.validity_days})",
                    )
                ]
            )
        return self


class _JvmService(_Workload):
    """A component whose main process is a JVM with a configured heap.

    The heap rules are field validators, which see the already validated `resources`
    (declared first), so they are reported even when another key of the section is wrong.
    """

    HEAP_SHARE: ClassVar[Decimal]
    heap: str | None

    @field_validator("resources")
    @classmethod
    def _enough_for_a_jvm(cls, resources: Resources) -> Resources:
        if resources.memory_limit_bytes < 512 * 2**20:
            _rule_violations(
                [("limits.memory", f"{resources.limits.memory} is below the 512Mi a JVM service needs")]
            )
        return resources

    @field_validator("heap")
    @classmethod
    def _heap_within_limit(cls, heap: str | None, info: ValidationInfo) -> str | None:
        resources = info.data.get("resources")
        if (
            heap is not None
            and resources is not None
            and parse_jvm_size(heap) > resources.memory_limit_bytes * cls.HEAP_SHARE
        ):
            raise ValueError(
                f"{heap} is more than {cls.HEAP_SHARE:.0%} of resources.limits.memory "
                f"({resources.limits.memory}); the pod would be OOMKilled. Lower the heap or raise the limit"
            )
        return heap

    @model_validator(mode="after")
    def _fill_default_heap(self) -> _JvmService:
        self.heap = self.heap or _default_heap(self.resources)
        return self

    @property
    def java_options(self) -> str:
        """The JVM options that fix the heap at `heap`."""
        assert self.heap is not None, "filled in by validation"
        return java_heap_options(self.heap)


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
_NODE_SET_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,18}[a-z0-9])?\Z")
# elk-elasticsearch-<name> must not be the name of another object of the stack.
_RESERVED_NODE_SET_NAMES = {"setup": "setup Job's objects"}
_DURATION_DAYS = re.compile(r"^(?P<days>[1-9][0-9]*)d\Z")
_ES_RESOURCES = ("500m", "1", "2Gi")


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

    @property
    def master_eligible(self) -> bool:
        """Whether these nodes may be elected master."""
        return self.roles is None or "master" in self.roles

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
        return line.removeprefix(f"{self.path}: ")


class NodeSet(_JvmService):
    """A group of identical Elasticsearch nodes: one StatefulSet, one PVC per node."""

    HEAP_SHARE = Decimal("0.5")

    resources: Resources = Field(
        default_factory=lambda: _resources(*_ES_RESOURCES),
        description="Requests and limits; default 500m/1 CPU, 2Gi memory. Keys left out keep their default.",
    )
    name: Annotated[str, AfterValidator(_check_node_set_name)] = Field(
        description="Required. Names the StatefulSet `elk-elasticsearch-<name>`; at most 20 characters."
    )
    replicas: int = Field(1, ge=1, description="Number of nodes in the set.")
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


class Retention(_Model):
    """How long logs are kept: an ILM policy that rolls indices over and deletes them."""

    max_age: str = Field("7d", description="Delete log data this many days after rollover, e.g. `14d`.")
    rollover_size: LogstashBytes = Field(
        "10gb", description="Roll over to a new backing index when a primary shard reaches this size."
    )

    @field_validator("max_age")
    @classmethod
    def _whole_days(cls, max_age: str) -> str:
        if not _DURATION_DAYS.match(max_age):
            raise ValueError(f"{max_age!r} is not a number of days like 7d")
        return max_age

    @property
    def days(self) -> int:
        """`max_age` in days."""
        match = _DURATION_DAYS.match(self.max_age)
        assert match is not None
        return int(match["days"])


class Capacity(_Model):
    """Expected log volume, to check that the data volumes can hold `retention.maxAge` of it."""

    events_per_day: int = Field(ge=1, description="Required. Log events per day, e.g. `2000000`.")
    avg_event_bytes: int = Field(ge=1, description="Required. Average size of one event as sent, in bytes.")
    enforce: bool = Field(
        False, description="Fail validation (instead of warning) when a volume is too small."
    )


class ElasticsearchConfig(_JvmService):
    """Elasticsearch: either one node set described inline, or `nodeSets`."""

    HEAP_SHARE = Decimal("0.5")
    INLINE_KEYS: ClassVar[tuple[str, ...]] = ("replicas", "heap", "resources", "storage")

    replicas: int = Field(1, ge=1, description="Number of nodes, each holding every role; or use `nodeSets`.")
    image: str = Field(
        "docker.elastic.co/elasticsearch/elasticsearch",
        description="Image repository; the tag is the top-level `version`.",
    )
    heap: JvmSize | None = Field(
        None,
        description="JVM heap (`-Xms` = `-Xmx`), e.g. `2g`. At most 50% of the memory limit; default 50%.",
    )
    resources: Resources = Field(
        default_factory=lambda: _resources(*_ES_RESOURCES),
        description="Requests and limits; default 500m/1 CPU, 2Gi memory. Keys left out keep their default.",
    )
    storage: Storage = Field(
        default_factory=lambda: Storage(size="10Gi"),
        description="The data volume, mounted at `/usr/share/elasticsearch/data`; default 10Gi, protected.",
    )
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

    @model_validator(mode="before")
    @classmethod
    def _inline_or_node_sets(cls, data: Any) -> Any:
        """Refuse a mix of both forms, which would leave it unclear what is deployed."""
        if isinstance(data, dict) and data.get("nodeSets") is not None:
            _rule_violations(
                [
                    (key, "cannot be combined with nodeSets; set it per node set")
                    for key in cls.INLINE_KEYS
                    if key in data
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
        _rule_violations(problems)
        return self

    def resolved_node_sets(self) -> list[ResolvedNodeSet]:
        """The node sets to deploy; the inline form is one set with every role."""
        if self.node_sets is None:
            return [
                ResolvedNodeSet(
                    name="",
                    replicas=self.replicas,
                    roles=None,
                    heap=self.heap or _default_heap(self.resources),
                    resources=self.resources,
                    storage=self.storage,
                    anti_affinity=self.anti_affinity,
                    path="elasticsearch",
                )
            ]
        return [
            ResolvedNodeSet(
                name=node_set.name,
                replicas=node_set.replicas,
                roles=tuple(node_set.roles),
                heap=node_set.heap or _default_heap(node_set.resources),
                resources=node_set.resources,
                storage=node_set.storage,
                anti_affinity=node_set.anti_affinity or self.anti_affinity,
                path=f"elasticsearch.nodeSets[{index}]",
            )
            for index, node_set in enumerate(self.node_sets)
        ]

    @model_validator(mode="after")
    def _enforced_capacity(self) -> ElasticsearchConfig:
        if self.capacity is not None and self.capacity.enforce:
            _rule_violations(
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
        return [
            VolumeCheck(f"{s.path}.storage.size", s.replicas, s.storage.size, needed)
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


class Queue(_Model):
    """Logstash's queue; `persisted` keeps accepted events across a pod restart."""

    type: Literal["persisted", "memory"] = Field(
        "persisted",
        validate_default=True,
        description="`persisted` (on disk, survives restarts) or `memory`.",
    )
    storage: Storage = Field(
        default_factory=lambda: Storage(size="2Gi"),
        description="One PVC per replica for the persisted queue; default 2Gi.",
    )
    max_bytes: LogstashBytes = Field(
        "1gb", validate_default=True, description="`queue.max_bytes`, e.g. `1gb`; must fit the volume."
    )

    @field_validator("max_bytes")
    @classmethod
    def _fits_volume(cls, max_bytes: str, info: ValidationInfo) -> str:
        """Reported at maxBytes: the volume is usually sized on purpose, the cap copied."""
        storage = info.data.get("storage")
        if (
            info.data.get("type") == "persisted"
            and storage
            and parse_logstash_bytes(max_bytes) > parse_quantity(storage.size)
        ):
            raise ValueError(f"{max_bytes} does not fit the queue volume (storage.size {storage.size})")
        return max_bytes


class LogstashConfig(_JvmService):
    """Logstash: the pipeline applications send their logs to."""

    HEAP_SHARE = Decimal("0.75")

    replicas: int = Field(1, ge=1, description="Number of Logstash pods, each with its own queue volume.")
    image: str = Field(
        "docker.elastic.co/logstash/logstash", description="Image repository; the tag is `version`."
    )
    heap: JvmSize | None = Field(
        None,
        description="JVM heap via `LS_JAVA_OPTS`, e.g. `1g`. At most 75% of the memory limit; default 50%.",
    )
    resources: Resources = Field(
        default_factory=lambda: _resources("250m", "1", "1Gi"),
        description="Requests and limits; default 250m/1 CPU, 1Gi memory. Keys left out keep their default.",
    )
    pipeline: str | None = Field(
        None,
        description=(
            "Pipeline `.conf` file, relative to the project directory. Default: the shipped Spring Boot "
            "pipeline for the security mode: `pipelines/spring-boot-json.conf` (security and HTTP TLS on), "
            "`pipelines/spring-boot-json-http.conf` (`elasticsearch.tls.http: false`) or "
            "`pipelines/spring-boot-json-insecure.conf` (`security.enabled: false`)."
        ),
    )
    queue: Queue = Field(default_factory=Queue, description="The event queue.")
    service: Service = Field(default_factory=Service, description="The Service applications send logs to.")
    _pipeline_text: str = PrivateAttr("")

    @field_validator("pipeline")
    @classmethod
    def _pipeline_exists(cls, pipeline: str | None, info: ValidationInfo) -> str | None:
        if pipeline is None:
            return None
        project_dir = Path((info.context or {}).get("project_dir", "."))
        path = project_dir / pipeline
        if not path.is_file():
            raise ValueError(f"pipeline file {pipeline!r} does not exist (looked in {project_dir.resolve()})")
        if not listening_ports(path.read_text()):
            raise ValueError(f"pipeline {pipeline!r} has no input with a `port => N` to expose")
        return pipeline

    @property
    def pipeline_text(self) -> str:
        """The pipeline file's content, read once during validation."""
        return self._pipeline_text


class KibanaConfig(_Workload):
    """Kibana: the UI, reached through its Service or an optional Ingress."""

    replicas: int = Field(1, ge=1, description="Number of Kibana pods.")
    image: str = Field(
        "docker.elastic.co/kibana/kibana", description="Image repository; the tag is `version`."
    )
    resources: Resources = Field(
        default_factory=lambda: _resources("250m", "1", "2Gi"),
        description=(
            "Requests and limits; memory limit at least 1Gi. Default 250m/1 CPU, 2Gi memory. "
            "Keys left out keep their default."
        ),
    )
    service: Service = Field(default_factory=Service, description="The Kibana Service.")
    ingress: Ingress | None = Field(None, description="Optional Ingress; sets `server.publicBaseUrl`.")

    @field_validator("resources")
    @classmethod
    def _enough_memory(cls, resources: Resources) -> Resources:
        if resources.memory_limit_bytes < 2**30:
            _rule_violations(
                [("limits.memory", f"{resources.limits.memory} is below the 1Gi Kibana needs to start")]
            )
        return resources


class Security(_Model):
    """Authentication, TLS and least-privilege users; on unless explicitly disabled."""

    enabled: bool = Field(
        True, description="Authentication and TLS. `false` is for throwaway stacks only and warns loudly."
    )
    logstash_user: DnsLabel = Field(
        "logstash-writer", description="The user (and role) Logstash writes as, instead of `elastic`."
    )
    logstash_indices: list[str] = Field(
        default_factory=lambda: ["logs-*-*"],
        min_length=1,
        description="Index or data stream patterns the Logstash user may create and write; nothing else.",
    )


class NetworkPeer(_Model):
    """Pods allowed in: those matching both label sets (an omitted set matches all)."""

    namespace_labels: dict[str, str] | None = Field(
        None, description="Labels of the source namespaces; omitted = this namespace only."
    )
    pod_labels: dict[str, str] | None = Field(None, description="Labels of the source pods; omitted = all.")

    @model_validator(mode="after")
    def _not_empty(self) -> NetworkPeer:
        if self.namespace_labels is None and self.pod_labels is None:
            _rule_violations([("podLabels", "give namespaceLabels, podLabels or both")])
        return self


class NetworkPolicyConfig(_Model):
    """NetworkPolicies that admit only the traffic each component needs."""

    enabled: bool = Field(True, description="Create the NetworkPolicies.")
    kibana_from: list[NetworkPeer] = Field(
        default_factory=list,
        description="Who may reach Kibana, e.g. the ingress controller's namespace; empty = anyone.",
    )
    logstash_from: list[NetworkPeer] = Field(
        default_factory=lambda: [NetworkPeer(pod_labels={})],
        description="Who may send logs to Logstash; default = every pod in this namespace; `[]` = anyone.",
    )


class StackConfig(_Model):
    """Everything under `elk-stack:` in `Pulumi.<stack>.yaml`."""

    namespace: DnsLabel = Field(description="Required. The existing namespace to deploy into.")
    create_namespace: bool = Field(
        False, description="Create the namespace too (needs cluster-scoped rights most teams lack)."
    )
    version: str = Field("9.4.3", description="Elastic Stack version for all three components; 8.0 or later.")
    storage_class: str | None = Field(
        None, description="Default storage class for every PVC; omitted = the cluster default."
    )
    image_pull_secrets: list[DnsLabel] = Field(
        default_factory=list, description="Names of existing Secrets used to pull images."
    )
    # Security comes before the components: their field validators check against it.
    security: Security = Field(default_factory=Security, description="Authentication and least privilege.")
    network_policy: NetworkPolicyConfig = Field(
        default_factory=NetworkPolicyConfig, description="NetworkPolicies."
    )
    elasticsearch: ElasticsearchConfig = Field(
        default_factory=ElasticsearchConfig, description="Elasticsearch."
    )
    logstash: LogstashConfig = Field(default_factory=LogstashConfig, description="Logstash.")
    kibana: KibanaConfig = Field(default_factory=KibanaConfig, description="Kibana.")

    @model_validator(mode="before")
    @classmethod
    def _validate_omitted_sections(cls, data: Any) -> Any:
        """Validate omitted sections too, so their defaults see the validation context."""
        if isinstance(data, dict):
            data = {"elasticsearch": {}, "logstash": {}, "kibana": {}, **data}
        return data

    @field_validator("version")
    @classmethod
    def _supported_version(cls, version: str) -> str:
        match = _VERSION.match(version)
        if match is None:
            raise ValueError(f"{version!r} is not a version like 9.4.3")
        if (int(match["major"]), int(match["minor"])) < MIN_VERSION:
            raise ValueError(f"{version} is not supported: 7.x and older are end-of-life; use 8.0 or later")
        return version

    @field_validator("elasticsearch")
    @classmethod
    def _tls_needs_security(
        cls, elasticsearch: ElasticsearchConfig, info: ValidationInfo
    ) -> ElasticsearchConfig:
        security = info.data.get("security")
        if security is None or security.enabled:
            return elasticsearch
        problems = []
        if elasticsearch.tls.http and "http" in elasticsearch.tls.model_fields_set:
            problems.append(("tls.http", "HTTPS needs security; remove it or enable security"))
        if elasticsearch.tls.existing_secret:
            problems.append(("tls.existingSecret", "has no effect with security.enabled false"))
        _rule_violations(problems)
        return elasticsearch

    @field_validator("logstash")
    @classmethod
    def _pipeline_matches_security(cls, logstash: LogstashConfig, info: ValidationInfo) -> LogstashConfig:
        """Pick the default pipeline for the security mode; check a custom one's variables."""
        security, elasticsearch = info.data.get("security"), info.data.get("elasticsearch")
        if security is None or elasticsearch is None:
            return logstash  # the mode is unknown; those sections report their own problems
        provided = pipeline_variables(security.enabled, security.enabled and elasticsearch.tls.http)
        pipeline = logstash.pipeline or default_pipeline(provided)
        text = (Path((info.context or {}).get("project_dir", ".")) / pipeline).read_text()
        _rule_violations(
            [
                ("pipeline", f"{pipeline} uses ${{{name}}}, which is set only {PIPELINE_VARIABLES[name]}")
                if name in PIPELINE_VARIABLES
                else ("pipeline", f"{pipeline} uses ${{{name}}}, which nothing sets")
                for name in referenced_variables(text)
                if name not in provided
            ]
        )
        logstash.pipeline = pipeline
        logstash._pipeline_text = text
        return logstash

    @model_validator(mode="after")
    def _default_storage_class(self) -> StackConfig:
        """Give every PVC the stack-wide storage class unless it names its own."""
        storages = [self.elasticsearch.storage, self.logstash.queue.storage]
        storages += [node_set.storage for node_set in self.elasticsearch.node_sets or []]
        for storage in storages:
            storage.storage_class = storage.storage_class or self.storage_class
        return self


def _field_at(model: type[BaseModel] | None, segment: str) -> tuple[str, type[BaseModel] | None]:
    """A key's camelCase alias in `model`, and the model nested under it (if any)."""
    if model is None:
        return segment, None
    found = next(((n, f) for n, f in model.model_fields.items() if segment in (n, f.alias)), None)
    if found is None:
        return segment, None
    name, field = found
    candidates = [field.annotation, *typing.get_args(field.annotation)]
    nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
    return field.alias or name, nested[0] if nested else None


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """Follow an error location through the models, to suggest the keys valid there."""
    model: type[BaseModel] | None = StackConfig
    for segment in loc:
        if not isinstance(segment, int):
            _, model = _field_at(model, segment)
    return model


def _key_path(loc: tuple[str | int, ...]) -> str:
    """Render a location the way `pulumi config set --path` takes it: `a.b[0].c`.

    Segments are turned into their camelCase keys: a default that fails validation is
    located by its Python name.
    """
    path = ""
    model: type[BaseModel] | None = StackConfig
    for segment in loc:
        if isinstance(segment, int):
            path += f"[{segment}]"
            continue
        key, model = _field_at(model, segment)
        path += f".{key}" if path else key
    return path


def _describe(error: Any) -> list[str]:
    loc = tuple(error["loc"])
    if error["type"] == "elk_rules":
        return [
            f"{_key_path(loc + tuple(rel.split('.')))}: {message}"
            for rel, message in error["ctx"]["problems"]
        ]
    if error["type"] == "extra_forbidden":
        parent = _model_at(loc[:-1])
        known = [f.alias or n for n, f in parent.model_fields.items()] if parent else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(known)}"
        return [f"{_key_path(loc)}: unknown key{hint if known else ''}"]
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "is required"
    return [f"{_key_path(loc)}: {message}"]


def parse_config_values(raw: dict[str, str]) -> dict[str, Any]:
    """Decode Pulumi's flat string config: objects and lists arrive JSON-encoded."""
    values: dict[str, Any] = {}
    for key, text in raw.items():
        if text[:1] in "{[":
            try:
                values[key] = json.loads(text)
                continue
            except json.JSONDecodeError:
                pass
        values[key] = text
    return values


def load_config(raw: dict[str, str], project_dir: Path) -> StackConfig:
    """Validate the project's config keys (without the `elk-stack:` prefix); raise ConfigError."""
    try:
        return StackConfig.model_validate(parse_config_values(raw), context={"project_dir": project_dir})
    except ValidationError as error:
        problems = [line for item in error.errors() for line in _describe(item)]
        raise ConfigError(sorted(problems)) from None
