"""The `logstash` section: the pipeline, its queue and its Service."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator

from components.config.base import ConfigModel, ImageRepository, JvmSize, LogstashBytes, Replicas
from components.config.workload import JvmService, Resources, Service, Storage, default_resources
from components.pipeline import listening_ports
from components.units import parse_logstash_bytes, parse_quantity


class Queue(ConfigModel):
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


class LogstashConfig(JvmService):
    """Logstash: the pipeline applications send their logs to."""

    HEAP_SHARE = Decimal("0.75")

    replicas: Replicas = Field(
        1, ge=1, description="Number of Logstash pods (at most 100), each with its own queue volume."
    )
    image: ImageRepository = Field(
        "docker.elastic.co/logstash/logstash", description="Image repository; the tag is `version`."
    )
    heap: JvmSize | None = Field(
        None,
        description="JVM heap via `LS_JAVA_OPTS`, e.g. `1g`. At most 75% of the memory limit; default 50%.",
    )
    resources: Resources = Field(
        default_factory=lambda: default_resources("250m", "1", "1Gi"),
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
