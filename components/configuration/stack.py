"""Everything under `elk-stack:`: the sections, and the rules that span them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from components.configuration.base import (
    MINVERSION,
    VERSION,
    ConfigModel,
    DnsLabel,
    DnsSubdomain,
    rule_violations,
)
from components.configuration.elasticsearch import ElasticsearchConfig
from components.configuration.kibana import KibanaConfig
from components.configuration.logstash import PIPELINES_READ, LogstashConfig
from components.configuration.network_policy import NetworkPolicyConfig
from components.configuration.pipeline import (
    PIPELINE_VARIABLES,
    SSL_OPTIONS_SINCE,
    default_pipeline,
    pipeline_facts,
    pipeline_variables,
    uncovered,
    write_warning,
)
from components.configuration.security import Security
from components.configuration.units import parse_wait


class StackConfig(ConfigModel):
    """Everything under `elk-stack:` in `Pulumi.<stack>.yaml`."""

    namespace: DnsLabel = Field(description="Required. The existing namespace to deploy into.")
    create_namespace: bool = Field(
        False, description="Create the namespace too (needs cluster-scoped rights most teams lack)."
    )
    version: str = Field("9.4.3", description="Elastic Stack version for all three components; 8.0 or later.")
    storage_class: DnsSubdomain | None = Field(
        None, description="Default StorageClass name for every PVC; omitted or null = the cluster default."
    )
    image_pull_secrets: list[DnsSubdomain] = Field(
        default_factory=list, description="Names of existing Secrets used to pull images."
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        "Always",
        description=(
            "Every container's `imagePullPolicy`. `Always` (default): a start checks the tag's digest "
            "with the registry, so a re-pushed tag never runs stale; `IfNotPresent` starts from a "
            "cached image while the registry is unreachable."
        ),
    )
    pod_ready_timeout: str | None = Field(
        None,
        description=(
            "How long `up` gives each pod to become Ready, e.g. `3m`: a workload of n pods fails "
            "after n times this, naming the pod and why it is not Ready (docs/troubleshooting.md). "
            "Unset: 10m per Elasticsearch or Logstash pod and 6m per Kibana pod, never under 10m "
            "per workload."
        ),
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
        """Validate omitted sections too, so their defaults see the validation context.

        A top-level `key: null` reaches the program as text: `null` (the engine JSON-encodes
        what is not a string) or empty, depending on the Pulumi version. Like a null inside an
        object, it leaves the key unset; an empty value means nothing else for any key here.
        """
        if isinstance(data, dict):
            data = {key: value for key, value in data.items() if value not in ("null", "")}
            data = {"elasticsearch": {}, "logstash": {}, "kibana": {}, **data}
        return data

    @field_validator("version")
    @classmethod
    def _supported_version(cls, version: str) -> str:
        match = VERSION.match(version)
        if match is None:
            zeros = all(part.isdigit() for part in version.split(".")) and version.count(".") == 2
            hint = " (numbers without leading zeros)" if zeros else ""
            raise ValueError(f"{version!r} is not a version like 9.4.3{hint}")
        if len(version) > 63:
            # It is the `app.kubernetes.io/version` label of every object, at most 63 characters.
            raise ValueError(f"{version[:20]}... is {len(version)} characters; a version has at most 63")
        if (int(match["major"]), int(match["minor"])) < MINVERSION:
            raise ValueError(f"{version} is not supported: 7.x and older are end-of-life; use 8.0 or later")
        return version

    @field_validator("pod_ready_timeout")
    @classmethod
    def _bounded_wait(cls, timeout: str | None) -> str | None:
        if timeout is not None:
            parse_wait(timeout)
        return timeout

    @property
    def pod_ready_seconds(self) -> int | None:
        """`podReadyTimeout` in seconds; None leaves each component's own default."""
        return None if self.pod_ready_timeout is None else parse_wait(self.pod_ready_timeout)

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
        rule_violations(problems)
        return elasticsearch

    @field_validator("logstash")
    @classmethod
    def _pipeline_matches_security(cls, logstash: LogstashConfig, info: ValidationInfo) -> LogstashConfig:
        """Pick the default pipeline for the security mode; check a custom one's variables."""
        security, elasticsearch = info.data.get("security"), info.data.get("elasticsearch")
        if security is None or elasticsearch is None:
            return logstash  # the mode is unknown; those sections report their own problems
        provided = pipeline_variables(security.enabled, security.enabled and elasticsearch.tls.http)
        version = info.data.get("version")
        numbers = tuple(map(int, version.split("."))) if version else SSL_OPTIONS_SINCE
        pipeline = logstash.pipeline or default_pipeline(provided, numbers)
        context = info.context or {}
        facts = context.get(PIPELINES_READ, {}).get(pipeline) or pipeline_facts(
            Path(context.get("project_dir", ".")), pipeline
        )
        too_new = facts.options_missing_before(numbers)
        rule_violations(
            [
                ("pipeline", f"{pipeline} uses ${{{name}}}, which is set only {PIPELINE_VARIABLES[name]}")
                if name in PIPELINE_VARIABLES
                else ("pipeline", f"{pipeline} uses ${{{name}}}, which nothing sets")
                for name in facts.variables
                if name not in provided
            ]
            + [("pipeline", problem) for problem in too_new]
        )
        warnings = []
        if security.enabled:
            defaulted = "logstash_indices" not in security.model_fields_set
            warnings = [
                write_warning(pipeline, target, security.logstash_indices, defaulted)
                for target in uncovered(facts.writes, security.logstash_indices)
            ]
        logstash.adopt_pipeline(facts, warnings)
        return logstash

    @field_validator("kibana")
    @classmethod
    def _keys_need_security(cls, kibana: KibanaConfig, info: ValidationInfo) -> KibanaConfig:
        security = info.data.get("security")
        if security is not None and not security.enabled and kibana.encryption_keys_secret:
            rule_violations([("encryptionKeysSecret", "has no effect with security.enabled false")])
        return kibana

    @model_validator(mode="after")
    def _default_storage_class(self) -> StackConfig:
        """Give every PVC the stack-wide storage class unless it names its own."""
        storages = [self.elasticsearch.storage, self.logstash.queue.storage]
        storages += [node_set.storage for node_set in self.elasticsearch.node_sets or []]
        for storage in storages:
            storage.storage_class = storage.storage_class or self.storage_class
        return self
