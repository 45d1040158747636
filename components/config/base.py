"""What every config section shares: the error type, the rule reporter, value types, the base model."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from components.units import parse_jvm_size, parse_logstash_bytes, parse_quantity

PROJECT = "elk-stack"
MINVERSION = (8, 0)
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
VERSION = re.compile(r"^(?P<major>[0-9]+)\.(?P<minor>[0-9]+)\.(?P<patch>[0-9]+)\Z")


class ConfigError(Exception):
    """Invalid stack config: one line per problem, each naming the key's full path."""

    def __init__(self, problems: list[str]) -> None:
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


def _check_jvm_size(text: str) -> str:
    parse_jvm_size(text)
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


Quantity = Annotated[str, BeforeValidator(_number_to_text), AfterValidator(_check_quantity)]
JvmSize = Annotated[str, BeforeValidator(_number_to_text), AfterValidator(_check_jvm_size)]
LogstashBytes = Annotated[str, AfterValidator(_check_logstash_bytes)]
DnsLabel = Annotated[str, AfterValidator(_check_dns_label)]


class ConfigModel(BaseModel):
    """Strict keys in camelCase, as stack files use; snake_case in Python.

    Validators fill derived defaults (heap, requests, storage class) in place, so the
    models components receive are complete; components treat them as read-only.
    """

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)
