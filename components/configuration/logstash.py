"""The `logstash` section: the pipeline, its queue and its Service."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from components.configuration.base import (
    ConfigModel,
    ImageRepository,
    JvmSize,
    LogstashBytes,
    Replicas,
    rule_violations,
)
from components.configuration.pipeline import ListeningPort, PipelineFacts, pipeline_facts
from components.configuration.units import parse_logstash_bytes, parse_quantity
from components.configuration.workload import JvmService, Resources, Service, Storage, default_resources

# Where the validation context keeps the pipelines already read, by path.
PIPELINES_READ = "pipelines_read"


# Logstash's default `queue.page_capacity`; `queue.max_bytes` must hold at least one page.
QUEUE_PAGE_BYTES = 64 * 1024 * 1024


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
    dead_letter_max_bytes: LogstashBytes = Field(
        "256mb",
        validate_default=True,
        description=(
            "With a persisted queue, the dead-letter queue (events Elasticsearch refused with 400 or 404) "
            "is on, on the same volume: `dead_letter_queue.max_bytes`. It and `maxBytes` together must fit "
            "the volume."
        ),
    )

    @field_validator("max_bytes")
    @classmethod
    def _holds_a_page(cls, max_bytes: str) -> str:
        """Logstash refuses to start with `queue.max_bytes` below `queue.page_capacity` (64mb by default)."""
        if parse_logstash_bytes(max_bytes) < QUEUE_PAGE_BYTES:
            raise ValueError(f"{max_bytes} is less than one queue page (64mb), which Logstash refuses")
        return max_bytes

    @model_validator(mode="after")
    def _fits_volume(self) -> Queue:
        """Reported at maxBytes: the volume is usually sized on purpose, the cap copied.

        Which side is a default is read from what the user set, so the message never calls
        a value the user typed "the default".
        """
        if self.type == "persisted" and parse_logstash_bytes(self.max_bytes) > parse_quantity(
            self.storage.size
        ):
            cap = (
                self.max_bytes if "max_bytes" in self.model_fields_set else f"{self.max_bytes} (the default)"
            )
            size = (
                self.storage.size
                if "storage" in self.model_fields_set
                else f"{self.storage.size}, the default"
            )
            rule_violations(
                [
                    (
                        "maxBytes",
                        f"{cap} does not fit the queue volume (storage.size {size}); "
                        "lower maxBytes or raise storage.size",
                    )
                ]
            )
        if self.type == "persisted" and parse_logstash_bytes(self.max_bytes) + parse_logstash_bytes(
            self.dead_letter_max_bytes
        ) > parse_quantity(self.storage.size):
            rule_violations(
                [
                    (
                        "deadLetterMaxBytes",
                        f"{self.dead_letter_max_bytes} and maxBytes {self.max_bytes} together do not "
                        f"fit the queue volume (storage.size {self.storage.size}); "
                        "lower one or raise storage.size",
                    )
                ]
            )
        return self


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
            "pipeline for the security mode: `pipelines/spring-boot-json.conf` (security and HTTP TLS on; "
            "`pipelines/spring-boot-json-before-8.8.conf` with the older TLS option names for 8.0-8.7), "
            "`pipelines/spring-boot-json-http.conf` (`elasticsearch.tls.http: false`) or "
            "`pipelines/spring-boot-json-insecure.conf` (`security.enabled: false`). The Service exposes "
            "the ports its inputs listen on, each with its protocol; with none (e.g. only `kafka`) there is "
            "no Service."
        ),
    )
    queue: Queue = Field(default_factory=Queue, description="The event queue.")
    service: Service = Field(default_factory=Service, description="The Service applications send logs to.")
    _facts: PipelineFacts | None = PrivateAttr(None)
    _write_warnings: list[str] = PrivateAttr(default_factory=list)

    @field_validator("pipeline")
    @classmethod
    def _pipeline_is_valid(cls, pipeline: str | None, info: ValidationInfo) -> str | None:
        """A custom pipeline must be a readable Logstash config whose ports can be exposed.

        Its facts are kept in the validation context, so the stack's check of the security
        mode reads and parses it no second time.
        """
        if pipeline is None:
            return None
        facts = pipeline_facts(Path((info.context or {}).get("project_dir", ".")), pipeline)
        if info.context is not None:
            info.context.setdefault(PIPELINES_READ, {})[pipeline] = facts
        return pipeline

    def adopt_pipeline(self, facts: PipelineFacts, write_warnings: list[str]) -> None:
        """Settle the pipeline (the mode's default, or the user's) once the security mode is known."""
        self.pipeline = facts.path
        self._facts = facts
        self._write_warnings = write_warnings

    @property
    def pipeline_text(self) -> str:
        """The pipeline file's content, read once during validation."""
        return self._facts.text if self._facts else ""

    @property
    def ports(self) -> list[ListeningPort]:
        """The ports the pipeline's inputs listen on; none for e.g. a `kafka` input alone."""
        return self._facts.ports if self._facts else []

    def pipeline_warnings(self) -> list[str]:
        """Writes the Logstash user may not make: Elasticsearch would refuse them at run time."""
        return self._write_warnings
