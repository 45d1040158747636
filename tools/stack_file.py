"""Read a stack file's `config:` the way the Pulumi CLI does, or say clearly why not.

Pulumi reads stack files as YAML 1.2, refuses a key given twice, and hands the program a
top-level value as the text written (`namespace: no` is the string `no`, `1:30` stays
`1:30`); objects and lists arrive as JSON. PyYAML reads YAML 1.1 and keeps the last of two
equal keys, so the offline render would see another config than `pulumi up`. Here
ruamel.yaml only parses the file into nodes, and this module turns them into values, so
each problem can name the file, the key and its line.

What the program cannot take is refused rather than guessed at: a key that is not text
directly under `config:`, a `!!binary` value, an alias that contains itself or expands
without bound, nesting deeper than any stack file needs. A date-like value
(`host: 2024-01-01`) stays the text written, as Pulumi hands it over.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

CORE = "tag:yaml.org,2002:"
MERGE, NULL, STR = f"{CORE}merge", f"{CORE}null", f"{CORE}str"
# Scalars Pulumi passes on as the text written when they sit directly under `config:`.
PLAIN_SCALARS = {f"{CORE}{kind}" for kind in ("str", "int", "float", "bool", "timestamp")}
# YAML 1.1's booleans (1.2 keeps only true and false), read as meant rather than as false.
TRUE_WORDS = frozenset({"true", "yes", "y", "on"})
FALSE_WORDS = frozenset({"false", "no", "n", "off"})
# The tags a collection may carry; `!!python/object` and other tags are refused, not ignored.
COLLECTION_TAGS = {f"{CORE}map", f"{CORE}seq"}
MAX_DEPTH = 50
MAX_VALUES = 100_000


class StackFileError(Exception):
    """The stack file cannot be rendered offline (missing, malformed or encrypted values)."""


def file_text(path: Path) -> str:
    """The file's text; Pulumi reads stack files as UTF-8 only."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise StackFileError(
            f"{path.name}, line {line}: the file is not UTF-8 (byte 0x{data[error.start]:02x}); "
            "save it as UTF-8"
        ) from None


def compose(text: str, name: str) -> Node | None:
    """Parse YAML 1.2 into nodes (aliases are shared nodes, not copies); None for an empty file."""
    stream = io.StringIO(text)
    stream.name = name  # ruamel names the stream in its messages
    try:
        node: Node | None = YAML(typ="safe", pure=True).compose(stream)
    except YAMLError as error:
        raise StackFileError(f"{name} is not valid YAML: {error}") from None
    except RecursionError:
        raise StackFileError(f"{name} is nested too deeply to read") from None
    return node


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _tag(node: Node) -> str:
    """`!!binary` rather than `tag:yaml.org,2002:binary`."""
    return str(node.tag).replace(CORE, "!!", 1)


class _Converter:
    """Turns the nodes of one file into Python values, refusing what Pulumi could not pass on."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.values = 0
        self.loader = YAML(typ="safe", pure=True)

    def error(self, node: Node, message: str) -> StackFileError:
        return StackFileError(f"{self.name}, line {_line(node)}: {message}")

    def entries(self, node: MappingNode, path: str, depth: int, seen: frozenset[int]) -> dict[str, Node]:
        """A mapping's keys and value nodes: each key once, `<<` merges under the explicit keys."""
        explicit: dict[str, Node] = {}
        first_line: dict[str, int] = {}
        merged: dict[str, Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE:
                for source in self.merge_sources(value_node, path, depth, seen):
                    inherited = self.entries(source, path, depth + 1, seen | {id(source)})
                    merged.update({k: v for k, v in inherited.items() if k not in merged})
                continue
            key = self.key(key_node, path)
            if key in explicit:
                raise self.error(
                    key_node,
                    f"{self.join(path, key)} is given twice (first on line {first_line[key]}); "
                    "Pulumi refuses a duplicated key: keep one",
                )
            explicit[key] = value_node
            first_line[key] = _line(key_node)
        return {**{k: v for k, v in merged.items() if k not in explicit}, **explicit}

    def merge_sources(self, node: Node, path: str, depth: int, seen: frozenset[int]) -> list[MappingNode]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        if not all(isinstance(source, MappingNode) for source in sources):
            raise self.error(node, f"{path or 'the top level'}: `<<` merges a mapping or a list of mappings")
        for source in sources:
            self.check(source, path, depth, seen)
        return list(sources)

    def key(self, node: Node, path: str) -> str:
        """A key is its text, as Pulumi makes it; a list or mapping cannot be a key."""
        if not isinstance(node, ScalarNode):
            raise self.error(node, f"{path or 'the top level'}: a key must be text, not a list or mapping")
        return str(node.value)

    def check(self, node: Node, path: str, depth: int, seen: frozenset[int]) -> None:
        """Refuse an alias inside itself, absurd nesting and documents that expand without bound."""
        if id(node) in seen:
            raise self.error(node, f"{path}: the value contains itself (a recursive alias)")
        if depth > MAX_DEPTH:
            raise self.error(node, f"{path}: nested more than {MAX_DEPTH} levels deep")
        self.values += 1
        if self.values > MAX_VALUES:
            raise StackFileError(f"{self.name}: more than {MAX_VALUES} values once aliases are expanded")

    def value(self, node: Node, path: str, depth: int = 0, seen: frozenset[int] = frozenset()) -> Any:
        """A nested value as the JSON Pulumi would hand the program: mappings, lists, scalars."""
        self.check(node, path, depth, seen)
        if isinstance(node, MappingNode | SequenceNode) and str(node.tag) not in COLLECTION_TAGS:
            raise self.error(
                node, f"{path}: a {_tag(node)} value cannot be passed to the program; remove the tag"
            )
        inner = seen | {id(node)}
        if isinstance(node, MappingNode):
            entries = self.entries(node, path, depth, inner).items()
            return {key: self.value(child, self.join(path, key), depth + 1, inner) for key, child in entries}
        if isinstance(node, SequenceNode):
            return [self.value(child, f"{path}[{i}]", depth + 1, inner) for i, child in enumerate(node.value)]
        return self.scalar(node, path)

    def scalar(self, node: Node, path: str) -> Any:
        kind = str(node.tag).removeprefix(CORE)
        if kind in {"str", "timestamp"}:  # Pulumi keeps a date as the text written
            return str(node.value)
        if kind == "null":
            return None
        if kind == "bool":
            return self.boolean(node, path)
        if kind in {"int", "float"}:
            try:
                number = self.loader.constructor.construct_object(node, deep=True)
            except ValueError:  # `!!int three`, or more than the 4300 digits Python reads
                digits = str(node.value).lstrip("+-")
                if not (digits.isascii() and digits.isdigit()):
                    raise self.error(node, f"{path}: {_tag(node)} {node.value} is not a number") from None
                raise self.error(node, f"{path}: the number {node.value[:12]}... is too long") from None
            if isinstance(number, float) and not math.isfinite(number):
                raise self.error(node, f"{path}: {node.value} is not a number a stack file can hold")
            return number
        raise self.error(
            node, f"{path}: a {_tag(node)} value cannot be passed to the program; write it as plain text"
        )

    def boolean(self, node: Node, path: str) -> bool:
        """A `!!bool` (or, under `%YAML 1.1`, a `yes`) as the writer meant it; anything else refused.

        Read as "true" or not, `protect: !!bool yes` would have turned protection off and
        `enabled: !!bool 1` security; Pulumi passes `yes` on as text, which the config
        reads as true.
        """
        text = str(node.value).lower()
        if text in TRUE_WORDS or text in FALSE_WORDS:
            return text in TRUE_WORDS
        raise self.error(node, f"{path}: {_tag(node)} {node.value} is not a boolean; write true or false")

    def top_level_value(self, node: Node, key: str) -> Any:
        """A value directly under `config:`: a scalar is the text written, as Pulumi passes it."""
        if not isinstance(node, ScalarNode):
            return self.value(node, key)
        if node.tag == NULL:
            return ""
        if node.tag not in PLAIN_SCALARS:
            return self.scalar(node, key)  # refuses !!binary and unknown tags
        return str(node.value)

    @staticmethod
    def join(path: str, key: str) -> str:
        return f"{path}.{key}" if path else key


def read_config(path: Path) -> dict[str, Any]:
    """The `config:` entries of a stack file by their keys as written (`elk-stack:namespace`).

    Top-level values are text; objects and lists are Python data for JSON.
    """
    document = compose(file_text(path), path.name)
    if document is None:
        return {}
    converter = _Converter(path.name)
    if not isinstance(document, MappingNode):
        kind = "a list" if isinstance(document, SequenceNode) else "a single value"
        raise StackFileError(f"{path.name}: the top level is {kind}; a stack file maps `config:` to keys")
    config = converter.entries(document, "", 0, frozenset()).get("config")
    if config is None or config.tag == NULL:
        return {}
    if not isinstance(config, MappingNode):
        raise converter.error(config, "`config` must be a mapping of keys like `elk-stack:namespace`")
    entries: dict[str, Any] = {}
    for key_node, _ in config.value:
        if isinstance(key_node, ScalarNode) and key_node.tag not in {STR, MERGE}:
            raise converter.error(
                key_node,
                f"the config key {key_node.value or '~'!r} is not text; keys look like `elk-stack:namespace`",
            )
    for key, value_node in converter.entries(config, "", 0, frozenset({id(config)})).items():
        entries[key] = converter.top_level_value(value_node, key)
    return entries
