"""Parse the three size notations a user meets: Kubernetes quantities, JVM sizes, Logstash bytes.

Each notation has its own grammar, and mixing them up is how a 2g heap ends up in a 2Gi
pod. Parsing all three to exact numbers lets validation compare them safely.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation, Overflow

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
# Kubernetes caps every quantity at 2^63-1 (resource.Quantity's documented range); a
# larger one is a typo, and computing it exactly (`1e1000000`) would overflow.
QUANTITY_MAX = Decimal(2**63 - 1)
_MAX_EXPONENT = 100
# Sizes longer than this many digits exceed every limit here, and Python refuses to turn
# more than 4300 digits into an int.
_MAX_DIGITS = 30


def _out_of_range(text: str) -> str:
    shown = text if len(text) <= 40 else f"{text[:20]}...{text[-10:]}"
    return f"{shown!r} is out of range: Kubernetes quantities stop at 2^63-1 (about 8Ei)"


def parse_quantity(text: str) -> Decimal:
    """Return the value of a Kubernetes quantity such as `500m` or `4Gi`; raise ValueError."""
    match = _QUANTITY.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity (examples: 500m, 1, 512Mi, 4Gi)")
    suffix = match["suffix"] or ""
    exponent = suffix not in _BINARY and suffix not in _DECIMAL
    if exponent and (len(suffix) > 5 or abs(int(suffix[1:])) > _MAX_EXPONENT):
        raise ValueError(_out_of_range(text))
    try:
        number = Decimal(match["number"])
        if exponent:
            value = number * Decimal(10) ** int(suffix[1:])
        elif suffix in _BINARY:
            value = number * _BINARY[suffix]
        else:
            value = number * _DECIMAL[suffix]
    except (Overflow, InvalidOperation) as error:
        raise ValueError(_out_of_range(text)) from error
    if value > QUANTITY_MAX:
        raise ValueError(_out_of_range(text))
    return value


def parse_byte_quantity(text: str) -> Decimal:
    """Return the bytes of a memory or storage quantity; refuse fractions of a byte.

    Kubernetes accepts `512m` for memory and rounds 0.512 bytes up to one; nobody means
    that, so it is refused with the likely intended binary suffix as a hint.
    """
    value = parse_quantity(text)
    if value == value.to_integral_value():
        return value
    match = _QUANTITY.match(text)
    assert match is not None
    if match["suffix"] == "m":
        raise ValueError(
            f"{text!r} is {value.normalize():f} bytes: `m` means milli, not mega; "
            f"did you mean {match['number']}Mi?"
        )
    raise ValueError(f"{text!r} is not a whole number of bytes")


def parse_jvm_size(text: str) -> int:
    """Return the bytes of a JVM size such as `512m` or `2g`, as `-Xmx` reads it."""
    match = _JVM.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a JVM heap size; use a whole number with k, m or g, e.g. 512m or 2g"
        )
    if len(match["number"]) > _MAX_DIGITS:
        raise ValueError(f"{text[:20]!r}... is out of range for a JVM heap")
    return int(match["number"]) * _JVM_UNITS[match["unit"].lower()]


def parse_logstash_bytes(text: str) -> int:
    """Return the bytes of a Logstash byte setting such as `1gb` (`queue.max_bytes`)."""
    match = _LOGSTASH_BYTES.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a Logstash byte size; use a number with b, kb, mb, gb or tb, e.g. 1gb"
        )
    if len(match["number"]) > _MAX_DIGITS:
        raise ValueError(f"{text[:20]!r}... is out of range for a Logstash byte size")
    return int(match["number"]) * _LOGSTASH_UNITS[match["unit"]]


def jvm_size(size_bytes: int) -> str:
    """Format bytes as a JVM size in whole MiB, rounding down so the heap never grows."""
    return f"{size_bytes // MIB}m"


def java_heap_options(heap: str) -> str:
    """`-Xms` equal to `-Xmx`: the heap is reserved at start and never grows past it."""
    return f"-Xms{heap} -Xmx{heap}"


_WAIT = re.compile(r"^(?P<amount>[1-9][0-9]{0,5})(?P<unit>s|m|h)\Z")
_WAIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
WAIT_MIN_SECONDS = 10
WAIT_MAX_SECONDS = 24 * 3600


def parse_wait(text: str) -> int:
    """Seconds in a wait such as `90s`, `5m` or `1h`: how long `up` gives a pod to become Ready.

    Below ten seconds no pod starts; beyond a day a stuck rollout is no longer "bounded".
    """
    match = _WAIT.match(text)
    if match is None:
        raise ValueError(f"{text[:20]!r} is not a wait like 90s, 5m or 1h")
    seconds = int(match["amount"]) * _WAIT_SECONDS[match["unit"]]
    if not WAIT_MIN_SECONDS <= seconds <= WAIT_MAX_SECONDS:
        raise ValueError(f"{text} is outside {WAIT_MIN_SECONDS}s to 24h")
    return seconds
