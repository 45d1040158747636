"""The `security` section."""

from __future__ import annotations

from pydantic import Field

from components.config.base import ConfigModel, DnsLabel


class Security(ConfigModel):
    """Authentication, TLS and least-privilege users; on unless explicitly disabled."""

    enabled: bool = Field(
        True, description="Authentication and TLS. `false` is for throwaway stacks only and warns loudly."
    )
    logstash_user: DnsLabel = Field(
        "logstash-writer", description="The user (and role) Logstash writes as, instead of `elastic`."
    )
    logstash_indices: list[str] = Field(
        default_factory=lambda: ["logs-*-*"],
        min_length=1,
        description="Index or data stream patterns the Logstash user may create and write; nothing else.",
    )
