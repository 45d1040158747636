"""Parse the three size notations a user meets: Kubernetes quantities, JVM sizes, Logstash bytes.

Each notation has its own grammar, and mixing them up is how a 2g heap ends up in a 2Gi
pod. Parsing all three to exact numbers lets validation compare them safely.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# The grammar of resource.Quantity from k8s.io/apimachinery, without the sign: a negative
# size or CPU count is never what a user means here.
_QUANTITY = re.compile(
    r"^(?P<number>[0-9]+(\.[0-9]*)?|\.[0-9]+)"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?\Z"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_JVM = re.compile(r"^(?P<number>[1-9][0-9]*)(?P<unit>[kKmMgG]?)\Z")
_JVM_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}
_LOGSTASH_BYTES = re.compile(r"^(?P<number>[1-9][0-9]*)\s*(?P<unit>b|kb|mb|gb|tb|pb)\Z")
_LOGSTASH_UNITS = {"b": 1, "kb": 2**10, "mb": 2**20, "gb": 2**30, "tb": 2**40, "pb": 2**50}

MIB = 2**20


def parse_quantity(text: str) -> Decimal:
    """Return the value of a Kubernetes quantity such as `500m` or `4Gi`; raise ValueError."""
    match = _QUANTITY.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity (examples: 500m, 1, 512Mi, 4Gi)")
    try:
        number = Decimal(match["number"])
    except InvalidOperation as error:  # pragma: no cover - the regex admits only digits
        raise ValueError(f"{text!r} is not a Kubernetes quantity") from error
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return number * Decimal(10) ** int(suffix[1:])


def parse_jvm_size(text: str) -> int:
    """Return the bytes of a JVM size such as `512m` or `2g`, as `-Xmx` reads it."""
    match = _JVM.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a JVM heap size; use a whole number with k, m or g, e.g. 512m or 2g"
        )
    return int(match["number"]) * _JVM_UNITS[match["unit"].lower()]


def parse_logstash_bytes(text: str) -> int:
    """Return the bytes of a Logstash byte setting such as `1gb` (`queue.max_bytes`)."""
    match = _LOGSTASH_BYTES.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a Logstash byte size; use a number with b, kb, mb, gb or tb, e.g. 1gb"
        )
    return int(match["number"]) * _LOGSTASH_UNITS[match["unit"]]


def jvm_size(size_bytes: int) -> str:
    """Format bytes as a JVM size in whole MiB, rounding down so the heap never grows."""
    return f"{size_bytes // MIB}m"


def java_heap_options(heap: str) -> str:
    """`-Xms` equal to `-Xmx`: the heap is reserved at start and never grows past it."""
    return f"-Xms{heap} -Xmx{heap}"
