"""What every config section shares: the error type, the rule reporter, value types, the base model."""

from __future__ import annotations

import re
import types
import typing
import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from components.configuration.units import (
    parse_byte_quantity,
    parse_jvm_size,
    parse_logstash_bytes,
    parse_quantity,
)

PROJECT = "elk-stack"
MINVERSION = (8, 0)
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
# Numbers as Elastic writes them: no leading zero (`09.4.3` is no release).
VERSION = re.compile(r"^(?P<major>0|[1-9][0-9]*)\.(?P<minor>0|[1-9][0-9]*)\.(?P<patch>0|[1-9][0-9]*)\Z")
# Elastic documents a heap share (at most 50% of memory) but no minimum. 256m is the heap
# our smallest accepted memory limit (512Mi) gets by default; a smaller heap leaves
# Elasticsearch or Logstash failing at start with OutOfMemoryError rather than at render.
MIN_HEAP_BYTES = 256 * 2**20
# Each replica is a pod, and each Elasticsearch or Logstash replica a claim Pulumi tracks:
# a count far beyond what one namespace runs is a typo, and a huge one stalls the render
# (and beyond 2^31-1 is refused by the API server). 100 per set is well past Elastic's
# own sizing guidance for a single cluster's node groups, yet bounded.
MAX_REPLICAS = 100
# The docker reference grammar (distribution/reference): an optional registry host with
# port, then lower-case path components joined by `.`, `_`, `__` or dashes.
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(
    rf"^(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?/)?"
    rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*\Z"
)
# Label keys and values as Kubernetes validates them (apimachinery validation.IsQualifiedName
# and IsValidLabelValue).
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")


class ConfigError(Exception):
    """Invalid stack config: one line per problem, each naming the key's full path."""

    def __init__(self, problems: list[str]) -> None:
        # A key or value may hold a line break (`"elk-stack:a\nb": 1`); escaped, each problem
        # stays one line.
        problems = [problem.replace("\r", "\\r").replace("\n", "\\n") for problem in problems]
        self.problems = problems
        super().__init__(
            f"invalid {PROJECT} config ({len(problems)} problem"
            f"{'s' if len(problems) != 1 else ''}):\n" + "\n".join(f"  - {p}" for p in problems)
        )


def rule_violations(problems: list[tuple[str, str]]) -> None:
    """Raise one pydantic error carrying several (relative key, message) problems.

    A model validator can only raise once and only at the model's own path; carrying the
    relative keys lets the report name e.g. `elasticsearch.heap` rather than `elasticsearch`.
    """
    if problems:
        raise PydanticCustomError(
            "elk_rules",
            "{summary}",
            {"summary": "; ".join(message for _, message in problems), "problems": problems},
        )


def _number_to_text(value: Any) -> Any:
    """Accept YAML numbers (`cpu: 1`) where a quantity string is expected."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return str(value)
    return value


def _check_quantity(text: str) -> str:
    parse_quantity(text)
    return text


def _check_byte_quantity(text: str) -> str:
    parse_byte_quantity(text)
    return text


def _check_jvm_heap(text: str) -> str:
    size = parse_jvm_size(text)
    if text[-1:].isdigit():
        raise ValueError(f"{text!r} has no unit, so the JVM would read bytes; add k, m or g, e.g. {text}m")
    if size < MIN_HEAP_BYTES:
        raise ValueError(f"{text} is below the 256m minimum heap")
    return text


def _check_logstash_bytes(text: str) -> str:
    parse_logstash_bytes(text)
    return text


def _check_dns_label(text: str) -> str:
    if len(text) > 63 or not _DNS_LABEL.match(text):
        raise ValueError(
            f"{text!r} is not a DNS-1123 label: lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters"
        )
    return text


def _check_dns_subdomain(text: str) -> str:
    if len(text) > 253 or not DNS_NAME.match(text):
        raise ValueError(
            f"{text!r} is not a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', "
            "starting and ending with a letter or digit, at most 253 characters"
        )
    return text


def _check_image_repository(text: str) -> str:
    if "@" in text:
        raise ValueError(f"{text!r} has a digest; give the repository only (the tag is `version`)")
    last = text.rsplit("/", 1)[-1]
    if ":" in last:
        raise ValueError(
            f"{text!r} has a tag; give the repository only, e.g. {text.rsplit(':', 1)[0]!r}: "
            "the tag is the top-level `version`"
        )
    if len(text) > 255 or not _REPOSITORY.match(text):
        raise ValueError(
            f"{text!r} is not an image repository like registry.example.com:5000/team/elasticsearch "
            "(lower-case path, no tag)"
        )
    return text


def _check_replicas(count: int) -> int:
    if count > MAX_REPLICAS:
        raise ValueError(f"{count} is more than {MAX_REPLICAS}, the most this program deploys per set")
    return count


def check_label_key(key: str) -> str:
    """A label key as Kubernetes takes it: an optional DNS-subdomain prefix and `/`, then a name."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and (len(prefix) > 253 or not DNS_NAME.match(prefix)):
        raise ValueError(
            f"label key {key!r}: the prefix must be a DNS-1123 subdomain of at most 253 characters"
        )
    if len(name) > 63 or not _LABEL_NAME.match(name):
        raise ValueError(
            f"label key {key!r}: the name must be at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return key


def _check_label_value(value: str) -> str:
    if value and (len(value) > 63 or not _LABEL_NAME.match(value)):
        raise ValueError(
            f"label value {value!r} must be empty or at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return value


Quantity = Annotated[str, BeforeValidator(_number_to_text), AfterValidator(_check_quantity)]
ByteQuantity = Annotated[str, BeforeValidator(_number_to_text), AfterValidator(_check_byte_quantity)]
JvmSize = Annotated[str, BeforeValidator(_number_to_text), AfterValidator(_check_jvm_heap)]
LogstashBytes = Annotated[str, AfterValidator(_check_logstash_bytes)]
DnsLabel = Annotated[str, AfterValidator(_check_dns_label)]
DnsSubdomain = Annotated[str, AfterValidator(_check_dns_subdomain)]
ImageRepository = Annotated[str, AfterValidator(_check_image_repository)]
Replicas = Annotated[int, AfterValidator(_check_replicas)]
LabelValue = Annotated[str, AfterValidator(_check_label_value)]


class ConfigModel(BaseModel):
    """Strict keys in camelCase, as stack files use; snake_case in Python.

    Validators fill derived defaults (heap, requests, storage class) in place, so the
    models components receive are complete; components treat them as read-only.
    """

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_unset(cls, data: Any) -> Any:
        """A null (`key: null`, `~`) leaves the key unset: its default, never the text "None".

        `resources` is the exception: there a null removes the default (see `Workload`).
        """
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data

    @model_validator(mode="before")
    @classmethod
    def _plain_values(cls, data: Any) -> Any:
        """Refuse what a typing accident or a pasted string slips past pydantic's lax reading.

        A control or invisible formatting character (a trailing newline, a NUL, a bidi
        override) in a string, which would reach a URL, a label or a file unseen; and `true`
        where a number is meant, which pydantic would read as 1.
        """
        if not isinstance(data, dict):
            return data
        fields = {field.alias or name: field for name, field in cls.model_fields.items()}
        problems: list[tuple[str, str]] = []
        for key, value in data.items():
            items = enumerate(value) if isinstance(value, list) else [(None, value)]
            for index, item in items:
                at = key if index is None else f"{key}[{index}]"
                hidden = (
                    next((c for c in item if unicodedata.category(c) in ("Cc", "Cf")), None)
                    if isinstance(item, str)
                    else None
                )
                if hidden is not None:
                    problems.append((at, f"{item!r} contains the invisible character U+{ord(hidden):04X}"))
            field = fields.get(key)
            if isinstance(value, bool) and field is not None and _is_number(field.annotation):
                problems.append((key, f"{str(value).lower()} is not a number"))
        rule_violations(problems)
        return data


def _is_number(annotation: Any) -> bool:
    """Whether a field takes a number (`int`, `int | None`, an Annotated int), not a bool."""
    options = (
        typing.get_args(annotation)
        if typing.get_origin(annotation) in (typing.Union, types.UnionType)
        else (annotation,)
    )
    return any(option in (int, float) for option in options)
