"""The `logstash` section: the pipeline, its queue and its Service."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator

from components.config.base import ConfigModel, ImageRepository, JvmSize, LogstashBytes, Replicas
from components.config.workload import JvmService, Resources, Service, Storage, default_resources
from components.pipeline import ListeningPort, listening_ports, read_pipeline
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
            default = cls.model_fields["max_bytes"].default
            hint = (
                f"; {default} is the default: set maxBytes or raise storage.size"
                if max_bytes == default
                else ""
            )
            raise ValueError(f"{max_bytes} does not fit the queue volume (storage.size {storage.size}){hint}")
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
            "`pipelines/spring-boot-json-insecure.conf` (`security.enabled: false`). The Service exposes "
            "the ports its inputs listen on, each with its protocol; with none (e.g. only `kafka`) there is "
            "no Service."
        ),
    )
    queue: Queue = Field(default_factory=Queue, description="The event queue.")
    service: Service = Field(default_factory=Service, description="The Service applications send logs to.")
    _pipeline_text: str = PrivateAttr("")
    _ports: list[ListeningPort] = PrivateAttr(default_factory=list)
    _write_warnings: list[str] = PrivateAttr(default_factory=list)

    @field_validator("pipeline")
    @classmethod
    def _pipeline_is_valid(cls, pipeline: str | None, info: ValidationInfo) -> str | None:
        """A custom pipeline must be a readable Logstash config whose ports can be exposed."""
        if pipeline is None:
            return None
        text = read_pipeline(Path((info.context or {}).get("project_dir", ".")), pipeline)
        try:
            listening_ports(text)
        except ValueError as error:
            raise ValueError(f"{pipeline}: {error}") from None
        return pipeline

    @property
    def pipeline_text(self) -> str:
        """The pipeline file's content, read once during validation."""
        return self._pipeline_text

    @property
    def ports(self) -> list[ListeningPort]:
        """The ports the pipeline's inputs listen on; none for e.g. a `kafka` input alone."""
        return self._ports

    def pipeline_warnings(self) -> list[str]:
        """Writes the Logstash user may not make: Elasticsearch would refuse them at run time."""
        return self._write_warnings
