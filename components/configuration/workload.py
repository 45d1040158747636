"""Container resources, JVM heaps, volumes and Services: what the component sections share."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import (
    Field,
    PrivateAttr,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from components.configuration.base import ByteQuantity, ConfigModel, DnsSubdomain, Quantity, rule_violations
from components.configuration.units import java_heap_options, jvm_size, parse_jvm_size, parse_quantity


class ResourceAmounts(ConfigModel):
    """CPU and memory for one side (requests or limits) of a container's resources."""

    cpu: Quantity | None = Field(None, description="CPU as a Kubernetes quantity, e.g. `500m` or `1`.")
    memory: ByteQuantity | None = Field(
        None, description="Memory as a Kubernetes quantity in bytes, e.g. `2Gi` (`m` is milli: refused)."
    )
    ephemeral_storage: ByteQuantity | None = Field(
        None,
        description=(
            "Node disk for what the container writes outside its volumes (scratch directories, "
            "its log), e.g. `1Gi`. Unset: the component's default, sized from what it writes "
            "(docs/operations.md, Ephemeral storage)."
        ),
    )


class Resources(ConfigModel):
    """Container requests and limits; the memory limit is what every heap is sized from."""

    requests: ResourceAmounts = Field(
        default_factory=ResourceAmounts,
        description=(
            "What the scheduler reserves. An unset request follows the limit, as in Kubernetes; "
            "with neither, the container has none."
        ),
    )
    limits: ResourceAmounts = Field(
        default_factory=ResourceAmounts,
        description=(
            "Hard caps. Elasticsearch and Logstash size their heap from `memory`. A default limit "
            "below a request you set rises to that request."
        ),
    )

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        problems: list[tuple[str, str]] = []
        for resource in ("cpu", "memory", "ephemeral_storage"):
            request, limit = getattr(self.requests, resource), getattr(self.limits, resource)
            if request and limit and parse_quantity(request) > parse_quantity(limit):
                key = "ephemeralStorage" if resource == "ephemeral_storage" else resource
                problems.append((f"requests.{key}", f"the request {request} exceeds the limit {limit}"))
        rule_violations(problems)
        # As Kubernetes does: a container with only a limit gets a request equal to it.
        self.requests = ResourceAmounts(
            cpu=self.requests.cpu or self.limits.cpu,
            memory=self.requests.memory or self.limits.memory,
            ephemeral_storage=self.requests.ephemeral_storage or self.limits.ephemeral_storage,
        )
        return self

    # Whether `limits.memory` came from the section's defaults, so messages can say so.
    # True for the defaults built in code; the sections' validator sets it for user input.
    _memory_limit_is_default: bool = PrivateAttr(True)

    @property
    def memory_limit_is_default(self) -> bool:
        """Whether the memory limit is the section's default rather than the user's."""
        return self._memory_limit_is_default

    @property
    def memory_limit_bytes(self) -> Decimal:
        """The memory limit in bytes; the components' validation guarantees it is set."""
        assert self.limits.memory is not None
        return parse_quantity(self.limits.memory)


def default_resources(cpu_request: str, cpu_limit: str, memory: str) -> Resources:
    """A section's default resources: the memory request equals the limit (Guaranteed memory)."""
    return Resources(
        requests=ResourceAmounts(cpu=cpu_request, memory=memory),
        limits=ResourceAmounts(cpu=cpu_limit, memory=memory),
    )


def _quantity_or_none(value: Any) -> Decimal | None:
    """A raw config value as a quantity, or None when it is unset or invalid (reported elsewhere)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return parse_quantity(str(value))
    except ValueError:
        return None


def _completed_resources(given: dict[str, Any], default: Resources) -> dict[str, Any]:
    """Fill what a partial `resources` leaves out from the component's defaults.

    `pulumi config set --path elasticsearch.resources.limits.memory 4Gi` should raise the
    limit, not drop every other default. A default must never turn a setting of the user's
    into an error: a default CPU request is capped at a lower CPU limit the user set, and a
    default limit below a request the user set rises to that request. A memory request the
    user did not set follows the memory limit.
    """
    removed = dict.fromkeys(("cpu", "memory"))  # `limits: null` removes every limit
    limits, requests = (given.get(side, {}) for side in ("limits", "requests"))
    limits, requests = (removed if side is None else side for side in (limits, requests))
    if not isinstance(limits, dict) or not isinstance(requests, dict):
        return given
    completed_limits = {**default.limits.model_dump(exclude_none=True), **limits}
    completed_requests = dict(requests)
    for resource in ("cpu", "memory"):
        request = _quantity_or_none(requests.get(resource))
        default_limit = _quantity_or_none(completed_limits.get(resource))
        if (
            resource not in limits
            and request is not None
            and default_limit is not None
            and request > default_limit
        ):
            completed_limits[resource] = requests[resource]
    if "cpu" not in requests and default.requests.cpu is not None:
        completed_requests["cpu"] = default.requests.cpu
        limit = _quantity_or_none(completed_limits.get("cpu"))
        if limit is not None and limit < parse_quantity(default.requests.cpu):
            completed_requests["cpu"] = completed_limits["cpu"]
    return {**given, "limits": completed_limits, "requests": completed_requests}


class Workload(ConfigModel):
    """A component with container resources, whose defaults complete partial user input."""

    resources: Resources

    @classmethod
    def _default_resources(cls) -> Resources:
        factory = cls.model_fields["resources"].default_factory
        assert factory is not None
        default: Resources = factory()  # type: ignore[call-arg]
        return default

    @field_validator("resources", mode="wrap")
    @classmethod
    def _complete_resources(cls, given: Any, handler: ValidatorFunctionWrapHandler) -> Resources:
        """Complete a partial `resources`, and remember whether the memory limit is the user's."""
        if not isinstance(given, dict):
            return handler(given)  # type: ignore[no-any-return]
        resources: Resources = handler(_completed_resources(given, cls._default_resources()))
        limits = given.get("limits", {})
        resources._memory_limit_is_default = isinstance(limits, dict) and "memory" not in limits
        return resources


class Storage(ConfigModel):
    """A PersistentVolumeClaim per replica."""

    size: ByteQuantity = Field(description="Requested size, e.g. `10Gi`.")
    storage_class: DnsSubdomain | None = Field(
        None,
        description=(
            "StorageClass name; omitted or null = the top-level `storageClass`, then the cluster default."
        ),
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


class Service(ConfigModel):
    """How a component is exposed."""

    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field(
        "ClusterIP", description="Kubernetes Service type: `ClusterIP`, `NodePort` or `LoadBalancer`."
    )


def default_heap(resources: Resources) -> str:
    """Half the memory limit, in whole MiB: the share Elastic recommends for the heap."""
    return jvm_size(int(resources.memory_limit_bytes / 2))


class JvmService(Workload):
    """A component whose main process is a JVM with a configured heap.

    The heap rules are field validators, which see the already validated `resources`
    (declared first), so they are reported even when another key of the section is wrong.
    """

    HEAP_SHARE: ClassVar[Decimal]
    heap: str | None

    @field_validator("resources")
    @classmethod
    def _enough_for_a_jvm(cls, resources: Resources) -> Resources:
        if resources.limits.memory is None:
            rule_violations([("limits.memory", "a memory limit is required: the JVM heap is sized from it")])
        elif resources.memory_limit_bytes < 512 * 2**20:
            rule_violations(
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
            note = (
                f" ({resources.limits.memory} is the default: set resources.limits.memory)"
                if resources.memory_limit_is_default
                else ""
            )
            raise ValueError(
                f"{heap} is more than {cls.HEAP_SHARE:.0%} of resources.limits.memory "
                f"({resources.limits.memory}); the pod would be OOMKilled. "
                f"Lower the heap or raise the limit{note}"
            )
        return heap

    @model_validator(mode="after")
    def _fill_default_heap(self) -> JvmService:
        self.heap = self.heap or default_heap(self.resources)
        return self

    @property
    def java_options(self) -> str:
        """The JVM options that fix the heap at `heap`."""
        assert self.heap is not None, "filled in by validation"
        return java_heap_options(self.heap)
