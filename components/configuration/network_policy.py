"""The `networkPolicy` section."""

from __future__ import annotations

from typing import Any

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
