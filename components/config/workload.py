"""Container resources, JVM heaps, volumes and Services: what the component sections share."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from components.config.base import ConfigModel, Quantity, rule_violations
from components.units import java_heap_options, jvm_size, parse_jvm_size, parse_quantity


class ResourceAmounts(ConfigModel):
    """CPU and memory for one side (requests or limits) of a container's resources."""

    cpu: Quantity | None = Field(None, description="CPU as a Kubernetes quantity, e.g. `500m` or `1`.")
    memory: Quantity | None = Field(None, description="Memory as a Kubernetes quantity, e.g. `2Gi`.")


class Resources(ConfigModel):
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
        rule_violations(problems)
        self.requests = ResourceAmounts(**requests)
        return self

    @property
    def memory_limit_bytes(self) -> Decimal:
        """The memory limit in bytes; validation guarantees it is set."""
        assert self.limits.memory is not None
        return parse_quantity(self.limits.memory)


def default_resources(cpu_request: str, cpu_limit: str, memory: str) -> Resources:
    """A section's default resources: the memory request equals the limit (Guaranteed memory)."""
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


class Workload(ConfigModel):
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


class Storage(ConfigModel):
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
        if resources.memory_limit_bytes < 512 * 2**20:
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
            raise ValueError(
                f"{heap} is more than {cls.HEAP_SHARE:.0%} of resources.limits.memory "
                f"({resources.limits.memory}); the pod would be OOMKilled. Lower the heap or raise the limit"
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
