"""The `security` section."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from components.configuration.base import ConfigModel, DnsLabel

# The stack's own internal users (components/specs/file_realm.py; tests/test_file_realm.py keeps
# the two lists equal): Logstash's user must differ from them, or two users would share one
# line of the file realm.
INTERNAL_USERS = ("elk-stack-probe", "elk-stack-setup", "elk-stack-kibana")
# Elastic's built-in users (elastic.co/docs/deploy-manage/users-roles/cluster-or-deployment-auth/
# built-in-users; `kibana` is the deprecated name of kibana_system).
RESERVED_USERS = (
    "elastic",
    "kibana",
    "kibana_system",
    "logstash_system",
    "beats_system",
    "apm_system",
    "remote_monitoring_user",
)
# The Logstash user's role has the user's name; built-in roles cannot be redefined
# (elastic.co/docs/reference/elasticsearch/roles). These are the ones a DNS label can name.
RESERVED_ROLES = ("superuser", "editor", "viewer")


class Security(ConfigModel):
    """Authentication, TLS and least-privilege users; on unless explicitly disabled."""

    enabled: bool = Field(
        True, description="Authentication and TLS. `false` is for throwaway stacks only and warns loudly."
    )
    logstash_user: DnsLabel = Field(
        "logstash-writer",
        description=(
            "The user (and role) Logstash writes as, instead of `elastic`; not a built-in user "
            "or role such as `elastic` or `superuser`."
        ),
    )
    logstash_indices: list[str] = Field(
        default_factory=lambda: ["logs-*-*"],
        min_length=1,
        description="Index or data stream patterns the Logstash user may create and write; nothing else.",
    )

    @field_validator("logstash_indices")
    @classmethod
    def _index_patterns(cls, patterns: list[str]) -> list[str]:
        """Names, `*` patterns or `/regexp/`s, as Elasticsearch reads an index privilege's names.

        An empty name grants nothing, and a regexp Elasticsearch cannot parse fails the whole
        role when the setup Job writes it, long after the render.
        """
        for pattern in patterns:
            if not pattern.strip():
                raise ValueError(f"{pattern!r} is no index pattern; give names such as logs-*-*")
            if len(pattern) > 1 and pattern.startswith("/") and pattern.endswith("/"):
                try:
                    re.compile(pattern[1:-1])
                except re.error as error:
                    raise ValueError(
                        f"{pattern!r} is not a regular expression Elasticsearch can read ({error})"
                    ) from None
        return patterns

    @field_validator("logstash_user")
    @classmethod
    def _not_reserved(cls, user: str) -> str:
        if user in INTERNAL_USERS:
            raise ValueError(
                f"{user!r} is one of this stack's internal users; Logstash needs a user of its own, "
                "e.g. logstash-writer"
            )
        if user in RESERVED_USERS:
            raise ValueError(
                f"{user!r} is a built-in Elasticsearch user; Logstash needs a user of its own, "
                "e.g. logstash-writer"
            )
        if user in RESERVED_ROLES:
            raise ValueError(
                f"{user!r} is a built-in Elasticsearch role, and the Logstash user's role has its name; "
                "choose another, e.g. logstash-writer"
            )
        return user
