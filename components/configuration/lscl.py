"""A parser for the Logstash config language (LSCL), enough to read a pipeline's structure.

It follows Logstash's own grammar (`lscl_grammar.treetop`): sections of plugins, plugin
attributes whose values are strings, barewords, numbers, arrays, hashes or plugins (a
codec with options), `#` comments, and `if`/`else` branches. Plugins inside branches are
listed with their section; conditions are skipped, not evaluated. Strings keep their
backslashes, as Logstash does unless `config.support_escapes` is set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Union

Value = Union[str, int, float, list["Value"], dict[str, "Value"], "Plugin"]

SECTIONS = ("input", "filter", "output")
_NAME = re.compile(r"[A-Za-z0-9_-]+")
_BAREWORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]+")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]*)?")
# Sections, branches, plugins, hashes and arrays may nest in one another; each is read by a
# recursive call, so a file nested thousands deep would overflow Python's stack. Real
# pipelines nest a handful of levels (a branch in a branch, a hash holding an array), so
# 100 is far beyond any of them and far below the stack's limit: deeper is refused.
MAX_NESTING = 100


class PipelineSyntaxError(ValueError):
    """The text is not a Logstash config; the message gives the line and column."""


@dataclass
class Plugin:
    """One plugin (or a codec given as an attribute value), with its attributes in order."""

    name: str
    attributes: list[tuple[str, Value]] = field(default_factory=list)
    line: int = 0

    def get(self, key: str) -> Value | None:
        """An attribute's value; Logstash keeps the last of a repeated key."""
        values = [value for name, value in self.attributes if name == key]
        return values[-1] if values else None


@dataclass
class Config:
    """A parsed pipeline: each section's plugins, those inside branches included."""

    sections: dict[str, list[Plugin]] = field(default_factory=lambda: {s: [] for s in SECTIONS})


class _Parser:
    """A recursive-descent reader over the text, one position at a time."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    def where(self) -> str:
        line = self.text.count("\n", 0, self.pos) + 1
        column = self.pos - (self.text.rfind("\n", 0, self.pos) + 1) + 1
        return f"line {line}, column {column}"

    def fail(self, expected: str) -> PipelineSyntaxError:
        found = self.text[self.pos : self.pos + 20].split("\n")[0] or "end of file"
        return PipelineSyntaxError(f"{self.where()}: expected {expected}, found {found!r}")

    def enter(self) -> None:
        """Count one more level of nesting, opened here; refuse one beyond MAX_NESTING.

        Every recursive reader (block, plugin, array, hash) calls this first and `leave`
        last, so no path through the grammar nests without being counted.
        """
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise PipelineSyntaxError(
                f"{self.where()}: nested more than {MAX_NESTING} levels deep (brackets, braces and "
                "`if` blocks); no real pipeline nests so deep, so this is refused rather than read"
            )

    def leave(self) -> None:
        self.depth -= 1

    def line(self) -> int:
        return self.text.count("\n", 0, self.pos) + 1

    def skip(self) -> None:
        """Skip whitespace and `#` comments (the grammar's `cs`)."""
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in " \t\r\n":
                self.pos += 1
            elif char == "#":
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end + 1
            else:
                return

    def peek(self, literal: str) -> bool:
        return self.text.startswith(literal, self.pos)

    def expect(self, literal: str) -> None:
        if not self.peek(literal):
            raise self.fail(repr(literal))
        self.pos += len(literal)

    def match(self, pattern: re.Pattern[str]) -> str | None:
        found = pattern.match(self.text, self.pos)
        if found is None:
            return None
        self.pos = found.end()
        return found.group(0)

    def config(self) -> Config:
        result = Config()
        self.skip()
        while self.pos < len(self.text):
            kind = next((section for section in SECTIONS if self.keyword(section)), None)
            if kind is None:
                raise self.fail("input, filter or output")
            self.pos += len(kind)
            self.skip()
            result.sections[kind] += self.block()
            self.skip()
        return result

    def block(self) -> list[Plugin]:
        """Plugins and branches from an opening brace to its closing one."""
        self.enter()
        self.expect("{")
        plugins: list[Plugin] = []
        self.skip()
        while not self.peek("}"):
            if self.pos >= len(self.text):
                raise self.fail("'}'")
            if self.keyword("if"):
                plugins += self.branch()
            else:
                plugins.append(self.plugin())
            self.skip()
        self.pos += 1
        self.leave()
        return plugins

    def keyword(self, word: str) -> bool:
        """Whether `word` stands here as a keyword, not as the start of a plugin name."""
        return self.peek(word) and not _NAME.match(self.text, self.pos + len(word))

    def branch(self) -> list[Plugin]:
        """`if cond { } else if cond { } else { }`: every branch's plugins."""
        self.pos += 2
        plugins = self.condition_block()
        while True:
            saved = self.pos
            self.skip()
            if not self.keyword("else"):
                self.pos = saved
                return plugins
            self.pos += 4
            self.skip()
            if self.keyword("if"):
                self.pos += 2
                plugins += self.condition_block()
            else:
                return plugins + self.block()

    def condition_block(self) -> list[Plugin]:
        """Skip a condition (strings, regexps and selectors may hold braces), then its block."""
        start = self.pos
        while self.pos < len(self.text) and not self.peek("{"):
            char = self.text[self.pos]
            if char in "\"'":
                self.string()
            elif char == "/":
                self.delimited("/", "/")
            elif char == "[":
                self.delimited("[", "]")
            else:
                self.pos += 1
        if self.pos >= len(self.text) or not self.text[start : self.pos].strip():
            raise self.fail("a condition and '{'")
        return self.block()

    def delimited(self, opening: str, closing: str) -> str:
        """Text from `opening` to an unescaped `closing`, both included."""
        start = self.pos
        self.pos += 1
        while self.pos < len(self.text) and self.text[self.pos] != closing:
            self.pos += 2 if self.text[self.pos] == "\\" else 1
        if self.pos >= len(self.text):
            self.pos = start
            raise self.fail(f"a closing {closing!r}")
        self.pos += 1
        return self.text[start : self.pos]

    def string(self) -> str:
        quote = self.text[self.pos]
        return self.delimited(quote, quote)[1:-1]

    def name(self) -> str | None:
        if self.peek('"') or self.peek("'"):
            return self.string()
        return self.match(_NAME)

    def plugin(self) -> Plugin:
        self.enter()
        line = self.line()
        name = self.name()
        if name is None:
            raise self.fail("a plugin name")
        self.skip()
        self.expect("{")
        plugin = Plugin(name, line=line)
        self.skip()
        while not self.peek("}"):
            key = self.name()
            if key is None:
                raise self.fail("a setting name or '}'")
            self.skip()
            self.expect("=>")
            self.skip()
            plugin.attributes.append((key, self.value()))
            self.skip()
        self.pos += 1
        self.leave()
        return plugin

    def value(self) -> Value:
        start = self.pos
        if self.match(_NAME) is not None:
            self.skip()
            if self.peek("{"):
                self.pos = start
                return self.plugin()
            self.pos = start
        char = self.text[self.pos : self.pos + 1]
        if char in ('"', "'"):
            return self.string()
        if char == "[":
            return self.array()
        if char == "{":
            return self.hash()
        number = self.match(_NUMBER)
        if number is not None and not _NAME.match(self.text, self.pos):
            return float(number) if "." in number else int(number)
        self.pos = start
        bareword = self.match(_BAREWORD)
        if bareword is None:
            raise self.fail("a value")
        return bareword

    def array(self) -> list[Value]:
        self.enter()
        self.pos += 1
        values: list[Value] = []
        self.skip()
        while not self.peek("]"):
            if values:
                self.expect(",")
                self.skip()
            values.append(self.value())
            self.skip()
        self.pos += 1
        self.leave()
        return values

    def hash(self) -> dict[str, Value]:
        self.enter()
        self.pos += 1
        entries: dict[str, Value] = {}
        self.skip()
        while not self.peek("}"):
            key = self.name()
            if key is None:
                raise self.fail("a key or '}'")
            self.skip()
            self.expect("=>")
            self.skip()
            entries[key] = self.value()
            self.skip()
        self.pos += 1
        self.leave()
        return entries


def parse(text: str) -> Config:
    """Parse a pipeline; raise PipelineSyntaxError where Logstash would refuse it."""
    return _Parser(text).config()
