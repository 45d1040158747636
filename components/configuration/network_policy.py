"""The `networkPolicy` section."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from components.configuration.base import ConfigModel, LabelValue, check_label_key, rule_violations


class NetworkPeer(ConfigModel):
    """Pods allowed in: those matching both label sets (an omitted set matches all)."""

    namespace_labels: dict[str, LabelValue] | None = Field(
        None,
        description=(
            "Labels of the source namespaces, keys and values as Kubernetes takes them; "
            "omitted = this namespace only."
        ),
    )
    pod_labels: dict[str, LabelValue] | None = Field(
        None, description="Labels of the source pods; omitted = all."
    )

    @field_validator("namespace_labels", "pod_labels", mode="before")
    @classmethod
    def _label_keys(cls, labels: Any) -> Any:
        """Checked here, so a bad key is reported at its map rather than at `<key>.[key]`."""
        if isinstance(labels, dict):
            problems = []
            for key in labels:
                try:
                    check_label_key(str(key))
                except ValueError as error:
                    problems.append(str(error))
            if problems:
                raise ValueError("; ".join(problems))
        return labels

    @model_validator(mode="after")
    def _not_empty(self) -> NetworkPeer:
        if self.namespace_labels is None and self.pod_labels is None:
            rule_violations([("podLabels", "give namespaceLabels, podLabels or both")])
        return self


Port = Annotated[int, Field(ge=1, le=65535)]


class EgressRule(ConfigModel):
    """Addresses (a CIDR) and TCP ports the stack's pods may connect to."""

    cidr: str = Field(
        description="Required. An IPv4 or IPv6 CIDR, e.g. `10.20.0.0/16`; `0.0.0.0/0` is anywhere."
    )
    ports: list[Port] = Field(min_length=1, description="Required. TCP ports, e.g. `[443]`.")

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, cidr: str) -> str:
        try:
            return str(ipaddress.ip_network(cidr, strict=True))
        except ValueError as error:
            raise ValueError(f"{cidr!r} is not a CIDR such as 10.20.0.0/16: {error}") from None


class NetworkPolicyConfig(ConfigModel):
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
    egress: bool = Field(
        True,
        description=(
            "Limit where the stack's pods may connect: DNS, Elasticsearch (from its clients and "
            "between nodes), the snapshot store (`snapshotEndpoint`) and `egressTo`. `false` leaves "
            "egress open: an opt-out."
        ),
    )
    snapshot_endpoint: EgressRule = Field(
        default_factory=lambda: EgressRule(cidr="0.0.0.0/0", ports=[443]),
        description=(
            "Where Elasticsearch reaches an `s3`, `gcs` or `azure` snapshot repository; default any "
            "address on 443. Narrow it to the store's addresses; an S3-compatible store on another "
            "port needs that port."
        ),
    )
    egress_to: list[EgressRule] = Field(
        default_factory=list,
        description="More destinations every pod of the stack may reach, e.g. a Logstash output or a proxy.",
    )
