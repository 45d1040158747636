"""The `kibana` section."""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator

from components.configuration.base import (
    DNS_NAME,
    ConfigModel,
    DnsSubdomain,
    ImageRepository,
    Replicas,
    rule_violations,
)
from components.configuration.workload import Resources, Service, Workload, default_resources


class Ingress(ConfigModel):
    """An optional networking.k8s.io/v1 Ingress in front of Kibana."""

    host: str = Field(
        description=(
            "Public host name, e.g. `kibana.qa.example.com`; a wildcard `*.example.com` is allowed "
            "but leaves `server.publicBaseUrl` unset."
        )
    )
    class_name: DnsSubdomain | None = Field(None, description="`ingressClassName`, e.g. `nginx`.")
    tls_secret_name: DnsSubdomain | None = Field(
        None, description="Existing TLS Secret for the host; set = the public URL uses https."
    )

    @field_validator("host")
    @classmethod
    def _dns_name(cls, host: str) -> str:
        """The API server's rule: a DNS-1123 subdomain, optionally after `*.`, and not an IP."""
        name = host.removeprefix("*.")
        if len(host) > 253 or not DNS_NAME.match(name):
            raise ValueError(f"{host!r} is not a DNS host name (a leading `*.` is the only wildcard)")
        if any(len(label) > 63 for label in name.split(".")):
            raise ValueError(f"{host!r} is not a DNS host name: a label is longer than 63 characters")
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return host
        raise ValueError(f"{host!r} is an IP address; an Ingress host must be a DNS name")

    @property
    def wildcard(self) -> bool:
        """Whether the host is a wildcard, which no single public URL stands for."""
        return self.host.startswith("*.")


# The names of the stack's own objects start with this (components/specs/common.py, INSTANCE);
# the one Secret of Kibana's keys that another stack made may keep its name.
STACK_OBJECTS_PREFIX = "elk-"
KEYS_SECRET_OF_A_STACK = "elk-kibana-encryption-keys"


class KibanaConfig(Workload):
    """Kibana: the UI, reached through its Service or an optional Ingress."""

    replicas: Replicas = Field(1, ge=1, description="Number of Kibana pods, at most 100.")
    image: ImageRepository = Field(
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
    https: bool = Field(
        True,
        description=(
            "Serve HTTPS with a certificate from the stack's CA, for its Service and the Ingress host. "
            "Only with security on and generated certificates (not `elasticsearch.tls.existingSecret`); "
            "`false` serves plain HTTP."
        ),
    )
    encryption_keys_secret: DnsSubdomain | None = Field(
        None,
        description=(
            "An existing Secret in the namespace with Kibana's three encryption keys "
            "(`xpack.security.encryptionKey`, `xpack.encryptedSavedObjects.encryptionKey`, "
            "`xpack.reporting.encryptionKey`, each 32 characters or more), e.g. a copy of another "
            "stack's `elk-kibana-encryption-keys`, so that its saved objects restored here can be "
            "decrypted; omitted = generated for this stack."
        ),
    )

    @field_validator("encryption_keys_secret")
    @classmethod
    def _not_a_stack_object(cls, name: str | None) -> str | None:
        """The stack's own Secrets hold other keys; naming one would start Kibana without its keys."""
        if name and name.startswith(STACK_OBJECTS_PREFIX) and name != KEYS_SECRET_OF_A_STACK:
            raise ValueError(
                f"{name!r} is a name of this stack's own objects; copy the keys into a Secret "
                f"named otherwise, or keep another stack's name {KEYS_SECRET_OF_A_STACK!r}"
            )
        return name

    @field_validator("resources")
    @classmethod
    def _enough_memory(cls, resources: Resources) -> Resources:
        # Kibana runs on Node.js, which sizes its heap from the container's memory limit
        # (elastic.co/docs/deploy-manage/production-guidance/kibana-configure-memory).
        if resources.limits.memory is None:
            rule_violations(
                [
                    (
                        "limits.memory",
                        "a memory limit is required: Kibana's Node.js heap is sized from it, and it "
                        "must be at least 1Gi",
                    )
                ]
            )
        elif resources.memory_limit_bytes < 2**30:
            rule_violations(
                [("limits.memory", f"{resources.limits.memory} is below the 1Gi Kibana needs to start")]
            )
        return resources
