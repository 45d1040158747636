"""`elasticsearch.retention`: how long log data is kept, and the data streams it covers."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from components.configuration.base import ConfigModel, LogstashBytes, rule_violations
from components.configuration.units import parse_logstash_bytes

_DURATION_DAYS = re.compile(r"^(?P<days>[1-9][0-9]*)d\Z")
# Far beyond any retention, and far below what Elasticsearch's TimeValue (a long of
# milliseconds) can hold, so the ILM policy's `min_age` is never refused at run time.
MAX_RETENTION_DAYS = 36500

# `%` too: the setup Job puts the patterns into URLs (`PUT /<pattern>/_settings`) unescaped.
_PATTERN_FORBIDDEN = set(' \\/?"<>|,#:%')
MAX_BYTES = 2**63 - 1


def data_stream_pattern_problems(patterns: list[str]) -> list[tuple[int, str]]:
    """(index, problem) for each pattern Elasticsearch would refuse in a data stream template."""
    problems = []
    for index, pattern in enumerate(patterns):
        forbidden = sorted(_PATTERN_FORBIDDEN & set(pattern))
        if not pattern:
            problems.append((index, "must not be empty"))
        elif forbidden:
            problems.append((index, f"{pattern!r} contains {' '.join(map(repr, forbidden))}"))
        elif pattern != pattern.lower():
            problems.append((index, f"{pattern!r} must be lower case"))
        elif pattern[0] in "_-+" or pattern in {".", ".."}:
            problems.append((index, f"{pattern!r} must not start with '_', '-' or '+'"))
        elif set(pattern) == {"*"}:
            problems.append((index, f"{pattern!r} would match every index, system ones too"))
        elif len(pattern.encode()) > 255:
            problems.append((index, "is longer than 255 bytes"))
        elif pattern in patterns[:index]:
            problems.append((index, f"{pattern!r} is listed twice"))
    return problems


class Retention(ConfigModel):
    """How long logs are kept: an ILM policy that rolls indices over and deletes them."""

    max_age: str = Field("7d", description="Delete log data this many days after rollover, e.g. `14d`.")
    rollover_size: LogstashBytes = Field(
        "10gb", description="Roll over to a new backing index when a primary shard reaches this size."
    )
    data_streams: list[str] = Field(
        default_factory=lambda: ["logs-springboot-*"],
        min_length=1,
        description=(
            "Data stream patterns this retention applies to (the index template's `index_patterns`); "
            "default `[logs-springboot-*]`, what the shipped pipelines write. Add your own pipeline's, "
            "e.g. `logs-myapp-*`; Logstash may write only what `security.logstashIndices` allows."
        ),
    )

    @field_validator("rollover_size")
    @classmethod
    def _within_a_long(cls, rollover_size: str) -> str:
        """Elasticsearch reads byte sizes as a signed 64-bit count; more is refused at deploy time."""
        if parse_logstash_bytes(rollover_size) > MAX_BYTES:
            raise ValueError(f"{rollover_size} is more than 8191pb, the largest size Elasticsearch reads")
        return rollover_size

    @field_validator("max_age")
    @classmethod
    def _whole_days(cls, max_age: str) -> str:
        match = _DURATION_DAYS.match(max_age)
        if not match:
            raise ValueError(f"{max_age!r} is not a number of days like 7d")
        if int(match["days"]) > MAX_RETENTION_DAYS:
            raise ValueError(f"{max_age} is more than {MAX_RETENTION_DAYS}d (100 years)")
        return max_age

    @model_validator(mode="after")
    def _template_patterns(self) -> Retention:
        """Checked as Elasticsearch checks an index template's patterns, each named by index."""
        problems = data_stream_pattern_problems(self.data_streams)
        rule_violations([(f"dataStreams[{index}]", problem) for index, problem in problems])
        return self

    @property
    def days(self) -> int:
        """`max_age` in days."""
        match = _DURATION_DAYS.match(self.max_age)
        assert match is not None
        return int(match["days"])
