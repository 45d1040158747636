"""The `kibana` section."""

from __future__ import annotations

from pydantic import Field, field_validator

from components.config.base import DNS_NAME, ConfigModel, rule_violations
from components.config.workload import Resources, Service, Workload, default_resources


class Ingress(ConfigModel):
    """An optional networking.k8s.io/v1 Ingress in front of Kibana."""

    host: str = Field(description="Public host name, e.g. `kibana.qa.example.com`.")
    class_name: str | None = Field(None, description="`ingressClassName`, e.g. `nginx`.")
    tls_secret_name: str | None = Field(
        None, description="Existing TLS Secret for the host; set = the public URL uses https."
    )

    @field_validator("host")
    @classmethod
    def _dns_name(cls, host: str) -> str:
        if len(host) > 253 or not DNS_NAME.match(host):
            raise ValueError(f"{host!r} is not a DNS host name")
        return host


class KibanaConfig(Workload):
    """Kibana: the UI, reached through its Service or an optional Ingress."""

    replicas: int = Field(1, ge=1, description="Number of Kibana pods.")
    image: str = Field(
        "docker.elastic.co/kibana/kibana", description="Image repository; the tag is `version`."
    )
    resources: Resources = Field(
        default_factory=lambda: default_resources("250m", "1", "2Gi"),
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
            rule_violations(
                [("limits.memory", f"{resources.limits.memory} is below the 1Gi Kibana needs to start")]
            )
        return resources
