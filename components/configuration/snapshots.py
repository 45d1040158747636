"""The `elasticsearch.snapshots` section: a snapshot repository and the SLM policy that fills it.

Protected and retained claims keep a volume from being deleted by Pulumi; they do not
survive a dead disk, a deleted index or a removed namespace. Snapshots in a repository
outside the cluster do. The keys follow Elastic's own repository settings and SLM policy
(elastic.co/docs/deploy-manage/tools/snapshot-and-restore), so what a user reads there
is what they write here.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from components.configuration.base import ConfigModel, DnsSubdomain, rule_violations
from components.configuration.workload import Storage

RepositoryType = Literal["s3", "gcs", "azure", "fs"]
# Keys only an s3 repository has: the S3 client settings of an S3-compatible store.
S3_ONLY = ("endpoint", "pathStyleAccess")
# Types whose credentials Elastic reads from the keystore; fs has none.
NEEDS_CREDENTIALS = ("azure",)
# Elastic's time units (elastic.co/docs/reference/elasticsearch/rest-apis/api-conventions#time-units).
_TIME_VALUE = re.compile(r"^(?P<amount>[0-9]+)(?P<unit>d|h|m|s|ms|micros|nanos)\Z")
_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 1e-3, "micros": 1e-6, "nanos": 1e-9}
# Elasticsearch reads these counts as Java ints.
MAX_INT = 2**31 - 1
# As `retention.maxAge`: a longer time would overflow Elasticsearch's nanosecond clock.
MAX_DURATION_DAYS = 36500
# A bucket as S3, GCS and Azure name them: lower-case letters, digits, '.', '-' and (GCS) '_'.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]\Z")
# An S3 endpoint: an optional http(s) scheme, a DNS name or an IP address, an optional port.
_ENDPOINT = re.compile(
    r"(?:https?://)?(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{1,5}))?/?",
    re.ASCII,
)
_BASE_PATH = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*\Z")
DEFAULT_SCHEDULE = "0 30 1 * * ?"
# `restoreFrom.snapshot`: the newest snapshot that succeeded, rather than a name.
LATEST = "latest"
# What Elasticsearch refuses in a snapshot name (SnapshotsService: lower case, no whitespace,
# none of `\ / * ? " < > | , #`, no leading `_`) and in an index pattern (no `:`, which
# names a remote cluster); `*` is a wildcard in a pattern, and a leading `-` excludes.
# `%` too: the restore puts the name into a URL unescaped.
_SNAPSHOT_NAME = re.compile(r'^[^_\sA-Z\\/*?"<>|,#%][^\sA-Z\\/*?"<>|,#%]{0,254}\Z')
_INDEX_PATTERN = re.compile(r'^-?[^-_+\sA-Z\\/?"<>|,#:][^\sA-Z\\/?"<>|,#:]*\Z')
_FEATURE = re.compile(r"^[a-z][a-z0-9_]*\Z")

# Elastic's cron is Quartz's (elastic.co/docs/reference/elasticsearch/rest-apis/api-conventions
# #api-cron-expressions): `<seconds> <minutes> <hours> <day_of_month> <month> <day_of_week>
# [year]`, in UTC. Each field: (name, lowest, highest, names for values).
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1
    )
}
_DAYS = {
    name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)
}
_CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("seconds", 0, 59, {}),
    ("minutes", 0, 59, {}),
    ("hours", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 1, 7, _DAYS),
    ("year", 1970, 2099, {}),
)
# `L-n`: n days before the month's last, at most 30 (Quartz).
_DAY_OF_MONTH_SPECIAL = re.compile(r"^(L|LW|L-([0-9]|[12][0-9]|30)|[0-9]{1,2}W)\Z")
_DAY_OF_WEEK_SPECIAL = re.compile(r"^(L|(?P<day>[0-9A-Z]{1,3})(L|#[1-5]))\Z")


def _cron_value(text: str, low: int, high: int, names: dict[str, int]) -> int:
    """One value of a field, as a number or (months, days) a three-letter name."""
    # ASCII only: Python's isdigit() and int() also take full-width and other digits, Quartz does not.
    if not text.isascii():
        raise ValueError(f"{text!r} is not {low}-{high}: only ASCII digits and names")
    value = names.get(text.upper()) if text.isalpha() else int(text) if text.isdigit() else None
    if value is None or not low <= value <= high:
        named = f" or {next(iter(names))}-{list(names)[-1]}" if names else ""
        raise ValueError(f"{text!r} is not {low}-{high}{named}")
    return value


def _cron_item(item: str, low: int, high: int, names: dict[str, int]) -> None:
    """`*`, `5`, `1-5`, `*/15`, `0/15` or `1-5/2`: a value, range or step, each within range."""
    base, slash, step = item.partition("/")
    if slash and (not (step.isascii() and step.isdigit()) or int(step) == 0):
        raise ValueError(f"{item!r}: the step after '/' must be a positive number")
    if slash and int(step) > high:
        # Quartz refuses an increment above the field's range ("Increment > 60").
        raise ValueError(f"{item!r}: the step after '/' must be at most {high}")
    if base == "*":
        return
    start, dash, end = base.partition("-")
    _cron_value(start, low, high, names)
    if dash:
        _cron_value(end, low, high, names)


def _cron_field(text: str, index: int) -> None:
    name, low, high, names = _CRON_FIELDS[index]
    try:
        if text == "?" and name in ("day of month", "day of week"):
            return
        if name == "day of month" and _DAY_OF_MONTH_SPECIAL.match(text):
            return
        special = _DAY_OF_WEEK_SPECIAL.match(text) if name == "day of week" else None
        if special:
            if special["day"]:
                _cron_value(special["day"], low, high, names)
            return
        for item in text.split(","):
            _cron_item(item, low, high, names)
    except ValueError as error:
        raise ValueError(f"the {name} field {text!r} is invalid: {error}") from None


def check_cron(schedule: str) -> str:
    """Refuse what Elastic's (Quartz) cron parser refuses, with the field that is wrong."""
    fields = schedule.split()
    if not 6 <= len(fields) <= 7:
        raise ValueError(
            f"{schedule!r} has {len(fields)} fields; Elastic's cron has 6 or 7: seconds minutes hours "
            "day-of-month month day-of-week [year], e.g. '0 30 1 * * ?' (01:30 UTC daily)"
        )
    for index, text in enumerate(fields):
        _cron_field(text, index)
    # Quartz: exactly one of the two day fields is `?` ("Support for specifying both a
    # day-of-week AND a day-of-month parameter is not implemented").
    if (fields[3] == "?") == (fields[5] == "?"):
        raise ValueError(
            f"{schedule!r}: exactly one of day-of-month and day-of-week must be '?', "
            "e.g. '0 30 1 * * ?' or '0 0 3 ? * SUN'"
        )
    return schedule


def check_time_value(text: str) -> str:
    """A positive Elastic duration such as `30d` or `12h`."""
    match = _TIME_VALUE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 30d or 12h")
    if int(match["amount"]) == 0:
        raise ValueError(f"{text!r} must be longer than zero")
    if int(match["amount"]) * _SECONDS[match["unit"]] > MAX_DURATION_DAYS * 86400:
        raise ValueError(f"{text[:20]} is more than {MAX_DURATION_DAYS}d (100 years)")
    return text


class SnapshotRepository(ConfigModel):
    """Where snapshots go: an object store, or a shared ReadWriteMany volume."""

    type: RepositoryType = Field(
        description=(
            "Required. `s3` (AWS or any S3-compatible store), `gcs`, `azure`, or `fs` (a shared volume)."
        )
    )
    bucket: str | None = Field(
        None, description="The bucket (for `azure`, the container); required except for `fs`."
    )
    base_path: str | None = Field(
        None,
        description=(
            "A folder inside the bucket (or the `fs` volume), e.g. the stack's name, so stacks can share "
            "a bucket."
        ),
    )
    endpoint: str | None = Field(
        None, description="`s3` only: the S3-compatible service, e.g. `minio.storage.svc:9000`."
    )
    path_style_access: bool | None = Field(
        None,
        description="`s3` only: address the bucket in the path, as MinIO and most S3-compatible stores need.",
    )
    credentials_secret: DnsSubdomain | None = Field(
        None,
        description=(
            "An existing Secret with the store's credentials (keys per type: see Snapshots); required "
            "for `azure`, refused for `fs`; omitted for `s3`/`gcs` = the node's own identity."
        ),
    )
    storage: Storage | None = Field(
        None,
        description=(
            "`fs` only, and required there: the ReadWriteMany claim every node mounts; its "
            "`storageClass` is required (one that supports ReadWriteMany, e.g. NFS)."
        ),
    )
    readonly: bool = Field(
        False,
        description=(
            "Register the repository read-only: restore from it, never write (e.g. QA's repository "
            "read by a test stack). No schedule then."
        ),
    )

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, endpoint: str) -> str:
        """`host[:port]` or an http(s) URL of one: Elasticsearch's S3 client reads nothing else."""
        match = _ENDPOINT.fullmatch(endpoint)
        if match is None or not 1 <= int(match["port"] or 443) <= 65535:
            raise ValueError(
                f"{endpoint!r} is not an endpoint: host[:port] or http(s)://host[:port], e.g. "
                "minio.storage.svc:9000, with a port from 1 to 65535 in plain digits"
            )
        return endpoint

    @field_validator("bucket")
    @classmethod
    def _bucket_name(cls, bucket: str) -> str:
        if not _BUCKET.match(bucket):
            raise ValueError(
                f"{bucket!r} is not a bucket name: 3 to 222 lower-case letters, digits, '.', '-' or '_'"
            )
        return bucket

    @field_validator("base_path")
    @classmethod
    def _relative_path(cls, base_path: str) -> str:
        if not _BASE_PATH.match(base_path) or ".." in base_path.split("/"):
            raise ValueError(
                f"{base_path!r} is not a relative path like qa or backups/qa (letters, digits, '.', '_', '-')"
            )
        return base_path

    @model_validator(mode="after")
    def _keys_of_the_type(self) -> SnapshotRepository:
        """Every key must mean something for the type: a misplaced key is a misunderstanding."""
        problems: list[tuple[str, str]] = []
        given = self.model_fields_set
        if self.type != "s3":
            problems += [
                (key, f"is an s3 setting; type {self.type} has none")
                for key, field in (("endpoint", "endpoint"), ("pathStyleAccess", "path_style_access"))
                if field in given
            ]
        if self.type == "fs":
            if self.bucket is not None:
                problems.append(
                    ("bucket", "an fs repository has no bucket: it is the shared volume `storage`")
                )
            if self.credentials_secret is not None:
                problems.append(("credentialsSecret", "an fs repository needs no credentials"))
            if self.storage is None:
                problems.append(
                    (
                        "storage",
                        "an fs repository needs a ReadWriteMany claim: give its size and storageClass",
                    )
                )
            elif self.storage.storage_class is None:
                problems.append(
                    (
                        "storage.storageClass",
                        "is required: the claim is ReadWriteMany, which few storage classes support "
                        "(e.g. NFS); name one that does",
                    )
                )
        else:
            if self.bucket is None:
                problems.append(("bucket", f"is required for type {self.type}"))
            if self.storage is not None:
                problems.append(("storage", f"is for type fs only; type {self.type} stores in its bucket"))
            if self.type in NEEDS_CREDENTIALS and self.credentials_secret is None:
                problems.append(
                    ("credentialsSecret", f"is required for {self.type}: the Secret with `account` and `key`")
                )
        rule_violations(problems)
        return self


class SnapshotRetention(ConfigModel):
    """Which snapshots SLM deletes: older than `expireAfter`, keeping between `minCount` and `maxCount`."""

    expire_after: str | None = Field("30d", description="Delete snapshots older than this, e.g. `30d`.")
    min_count: int | None = Field(
        5, ge=1, le=MAX_INT, description="Always keep at least this many, however old."
    )
    max_count: int | None = Field(
        50, ge=1, le=MAX_INT, description="Never keep more than this many, however young."
    )

    @field_validator("expire_after")
    @classmethod
    def _duration(cls, expire_after: str) -> str:
        return check_time_value(expire_after)

    @field_validator("max_count")
    @classmethod
    def _possible(cls, max_count: int | None, info: ValidationInfo) -> int | None:
        """A field validator, so it is reported even when `expireAfter` is wrong too."""
        min_count = info.data.get("min_count")
        if max_count is not None and min_count is not None and min_count > max_count:
            raise ValueError(f"{max_count} is less than minCount ({min_count}), so no count satisfies both")
        return max_count


class RestoreFrom(ConfigModel):
    """A snapshot a new stack starts from: restored once, before Logstash and Kibana start."""

    snapshot: str = Field(
        description=(
            "Required. The snapshot's name in the repository, or `latest` for the newest one that succeeded."
        )
    )
    indices: list[str] | None = Field(
        None,
        min_length=1,
        description=(
            "The data streams and indices to restore, as Elastic's patterns (`logs-*`, `-logs-debug-*` "
            "excludes); omitted = every regular one in the snapshot."
        ),
    )
    feature_states: list[str] = Field(
        default_factory=lambda: ["kibana"],
        description=(
            "The feature states to restore; default `[kibana]` (Kibana's saved objects), `[]` = none. "
            "`security` is refused: it would replace the stack's users."
        ),
    )

    @field_validator("snapshot")
    @classmethod
    def _snapshot_name(cls, snapshot: str) -> str:
        if not _SNAPSHOT_NAME.match(snapshot):
            raise ValueError(
                f"{snapshot!r} is not a snapshot name: lower case, no spaces, none of "
                '\\ / * ? " < > | , # %, not starting with _; or `latest`'
            )
        return snapshot

    @field_validator("indices")
    @classmethod
    def _patterns(cls, indices: list[str]) -> list[str]:
        wrong = [pattern for pattern in indices if not _INDEX_PATTERN.match(pattern)]
        if wrong:
            raise ValueError(
                f"{', '.join(map(repr, wrong))}: not an index pattern like logs-* (lower case, no "
                'spaces, none of \\ / ? " < > | , # :; a leading - excludes)'
            )
        if all(pattern.startswith("-") for pattern in indices):
            raise ValueError("only exclusions: name what to restore too, e.g. ['logs-*', '-logs-debug-*']")
        return indices

    @field_validator("feature_states")
    @classmethod
    def _features(cls, feature_states: list[str]) -> list[str]:
        wrong = [feature for feature in feature_states if not _FEATURE.match(feature)]
        if wrong:
            raise ValueError(f"{', '.join(map(repr, wrong))}: not a feature name like kibana")
        if "security" in feature_states:
            raise ValueError(
                "'security' would replace this stack's users and roles, `elastic`'s password "
                "included, with the snapshot's; restore it by hand if you mean to"
            )
        if "none" in feature_states:
            raise ValueError("to restore no feature state, give an empty list: featureStates: []")
        return feature_states


class Snapshots(ConfigModel):
    """Snapshots of the whole cluster (indices and Kibana's saved objects) to a repository."""

    repository: SnapshotRepository = Field(description="Required. The snapshot repository.")
    schedule: str = Field(
        DEFAULT_SCHEDULE,
        description=(
            "When SLM takes a snapshot, in Elastic's cron (seconds first, UTC); default `0 30 1 * * ?`, "
            "01:30 daily."
        ),
    )
    retention: SnapshotRetention = Field(
        default_factory=SnapshotRetention, description="Which snapshots SLM deletes."
    )

    before_upgrade: bool | None = Field(
        None,
        description=(
            "Snapshot before a version change or a removed node set touches any Elasticsearch pod, "
            "and stop the deploy if it fails; default true, and false with a read-only repository."
        ),
    )

    restore_from: RestoreFrom | None = Field(
        None,
        description=(
            "Start a new stack from a snapshot in the repository: restored once, before Logstash and "
            "Kibana first start, never again (see Restoring a new stack)."
        ),
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, schedule: str) -> str:
        return check_cron(schedule)

    @model_validator(mode="after")
    def _readonly_takes_none(self) -> Snapshots:
        """A read-only repository is only read: a schedule would fail at every run."""
        if self.repository.readonly:
            rule_violations(
                [
                    (
                        key,
                        "a read-only repository takes no snapshots; remove it or set "
                        "repository.readonly false",
                    )
                    for key, field in (("schedule", "schedule"), ("retention", "retention"))
                    if field in self.model_fields_set
                ]
                + (
                    [("beforeUpgrade", "a read-only repository takes no snapshots; remove it")]
                    if self.before_upgrade
                    else []
                )
            )
        return self

    @property
    def takes_snapshots(self) -> bool:
        """Whether this stack writes to the repository (SLM, snapshots before changes)."""
        return not self.repository.readonly

    @property
    def snapshot_before_changes(self) -> bool:
        """Whether a version change or a removed node set waits for a snapshot first."""
        return self.takes_snapshots and self.before_upgrade is not False
