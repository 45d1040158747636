r"""A parser for the Logstash config language (LSCL), enough to read a pipeline's structure.

It follows Logstash's own grammar (`logstash-core/lib/logstash/compiler/lscl/
lscl_grammar.treetop`) rule for rule, and refuses what the grammar accepts but Logstash
then reads otherwise than it looks (`compiler/lscl.rb`): sections of plugins, plugin
attributes whose values are strings, barewords, numbers, arrays, hashes or plugins (a codec
with options), `#` comments, and `if`/`else` branches whose conditions are parsed, not
evaluated. Plugins inside branches are listed with their section.

- A string ends at the first unescaped quote, and only the quote itself can be escaped: a
  backslash before anything else is an ordinary character, so `"C:\\"` never ends, as in
  Logstash. Strings keep their backslashes, as Logstash does unless
  `config.support_escapes` is set.
- A number is an integer or a decimal (`-1`, `2.5`); Logstash reads an integer with a
  leading `0` as octal (`Integer("05000")` is 2560, `08080` fails), so one whose octal
  reading differs is refused, and so is `5000.`, which Logstash before 9.4 cannot read.
- Settings of one plugin, and entries of one hash, are separated by whitespace.
- A setting given twice is merged as Logstash merges it: hashes into one, anything else
  into a list (which a number setting then refuses); two codecs, and one key twice in a
  hash, are refused, as Logstash refuses them.
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
_WHITESPACE = " \t\r\n"
_LINE_END = re.compile(r"[\r\n]")
_BOOLEAN = re.compile(r"and|or|xor|nand")
_COMPARISON = re.compile(r"==|!=|<=|>=|=~|!~|<|>")
_SELECTOR_ELEMENT = re.compile(r"\[[^\]\[,]+\]")
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
        """An attribute's value, a repeated one merged as Logstash merges it (`merged`)."""
        values = [value for name, value in self.attributes if name == key]
        if not values:
            return None
        result = values[0]
        for value in values[1:]:
            result = merged(result, value)
        return result


def merged(old: Value, new: Value) -> Value:
    """A setting given again: hashes merge, a list takes the new value, equal values stay one.

    As `map_expr_attributes` in Logstash's `compiler/lscl.rb` does: anything else becomes a
    list of both, which a setting that takes one value (a port) then refuses.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        return {**old, **new}
    if isinstance(old, list):
        return [*old, new]
    return old if old == new else [old, new]


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
        """Skip whitespace and `#` comments (the grammar's `cs`); a comment ends with its line."""
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in _WHITESPACE:
                self.pos += 1
            elif char == "#":
                end = _LINE_END.search(self.text, self.pos)
                self.pos = len(self.text) if end is None else end.start()
                if self.peek("\r") and not self.peek("\r\n"):
                    raise self.fail("a line break after the comment (a lone carriage return ends none)")
            else:
                return

    def separated(self) -> bool:
        """Skip `cs`; whether it began with whitespace, which the grammar puts between settings."""
        spaced = self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE
        self.skip()
        return spaced

    def peek(self, literal: str) -> bool:
        return self.text.startswith(literal, self.pos)

    def at_number(self) -> bool:
        """Whether a number (the grammar's `"-"? [0-9]+`) may start here; ASCII digits only."""
        char = self.text[self.pos : self.pos + 1]
        return char == "-" or (char.isascii() and char.isdigit())

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
        """A condition, read by the grammar's rules but not evaluated, then its block."""
        self.skip()
        if self.peek("{"):
            raise self.fail("a condition")
        self.condition()
        self.skip()
        return self.block()

    def condition(self) -> None:
        """`expression (cs boolean_operator cs expression)*`, the operators `and or xor nand`."""
        self.expression()
        while True:
            saved = self.pos
            self.skip()
            if self.match(_BOOLEAN) is None:
                self.pos = saved
                return
            self.skip()
            self.expression()

    def expression(self) -> None:
        """A parenthesised condition, a negation, or a value alone, compared, matched or `in` one."""
        self.enter()
        if self.peek("(") or (self.peek("!") and not self.peek("!=") and not self.peek("!~")):
            self.negation_or_group()
        else:
            self.rvalue()
            saved = self.pos
            self.skip()
            operator = self.match(_COMPARISON)
            if operator is not None:
                self.skip()
                self.regexp_operand() if operator in ("=~", "!~") else self.rvalue()
            elif self.peek("in") or self.peek("not "):
                if self.peek("not "):
                    self.pos += 4
                    self.skip()
                self.expect("in")
                self.skip()
                self.rvalue()
            else:
                self.pos = saved
        self.leave()

    def negation_or_group(self) -> None:
        """`( condition )`, `!( condition )` or `![selector]`: `!` negates nothing else."""
        if self.peek("!"):
            self.pos += 1
            self.skip()
            if not self.peek("("):
                if self.match_selector() is None:
                    raise self.fail("a [field] selector or '(' after '!'")
                return
        self.pos += 1
        self.skip()
        self.condition()
        self.skip()
        self.expect(")")

    def match_selector(self) -> str | None:
        """One or more `[name]` elements (no escapes, no `[`, `]` or `,` inside)."""
        start = self.pos
        while self.match(_SELECTOR_ELEMENT) is not None:
            pass
        return self.text[start : self.pos] if self.pos > start else None

    def rvalue(self) -> None:
        """An operand: a string, number, selector, array or regexp; a bareword is none."""
        char = self.text[self.pos : self.pos + 1]
        if char in ('"', "'"):
            self.string()
        elif char == "/":
            self.delimited("/", "/")
        elif char == "[":
            if self.match_selector() is None:
                self.array()
        elif self.at_number():
            self.number()
        elif self.match(_BAREWORD) is not None:
            self.skip()
            if self.peek("("):
                raise self.fail("a value (Logstash parses a method call in a condition but cannot run it)")
            raise self.fail("a string, number, [field], array or /regexp/ (a bare word is no value here)")
        else:
            raise self.fail("a string, number, [field], array or /regexp/")

    def regexp_operand(self) -> None:
        """What `=~` and `!~` take: a /regexp/ or a string."""
        if self.peek("/"):
            self.delimited("/", "/")
        elif self.peek('"') or self.peek("'"):
            self.string()
        else:
            raise self.fail("a /regexp/ or a string after =~ or !~")

    def delimited(self, opening: str, closing: str) -> str:
        r"""Text from `opening` to the first `closing` not escaped, both included.

        Only the closing character can be escaped (`\\"` in a string, `\\/` in a regexp): a
        backslash before anything else is kept as it is and escapes nothing, as in Logstash.
        """
        start = self.pos
        self.pos += 1
        while self.pos < len(self.text) and self.text[self.pos] != closing:
            escaped = self.text.startswith("\\" + closing, self.pos)
            self.pos += 2 if escaped else 1
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
        if self.peek('"') or self.peek("'"):
            raise self.fail(
                "a plugin name without quotes (Logstash would look up a plugin whose name has the quotes)"
            )
        name = self.match(_NAME)
        if name is None:
            raise self.fail("a plugin name")
        self.skip()
        self.expect("{")
        plugin = Plugin(name, line=line)
        self.skip()
        spaced = True
        while not self.peek("}"):
            if not spaced:
                raise self.fail("whitespace between two settings")
            start = self.pos
            key = self.name()
            if key is None:
                raise self.fail("a setting name or '}'")
            if key == "codec" and plugin.get("codec") is not None:
                self.pos = start
                raise self.fail("one codec (Logstash refuses a second one in a plugin)")
            self.skip()
            self.expect("=>")
            self.skip()
            plugin.attributes.append((key, self.value()))
            spaced = self.separated()
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
        if self.at_number() and _NUMBER.match(self.text, self.pos):
            return self.number()
        bareword = self.match(_BAREWORD)
        if bareword is None:
            raise self.fail("a value")
        return bareword

    def number(self) -> int | float:
        """An integer or decimal, read as Logstash reads it; refused where it would surprise.

        Logstash turns the text into a value with Ruby's `Integer()` or `Float()`: an
        integer with a leading 0 is octal there.
        """
        start = self.pos
        text = self.match(_NUMBER)
        if text is None or _NAME.match(self.text, self.pos):
            self.pos = start
            raise self.fail("a number")
        if text.endswith("."):
            self.pos = start
            raise self.fail(
                f"a number; write {text}0 or {text[:-1]} (Logstash before 9.4 cannot read {text})"
            )
        if "." in text:
            return float(text)
        digits = text.lstrip("-")
        if len(digits) > 1 and digits.startswith("0"):
            return self.octal(text, start)
        return int(text)

    def octal(self, text: str, start: int) -> int:
        """An integer with a leading 0: octal to Logstash; kept only where that changes nothing."""
        decimal = int(text)
        try:
            octal = int(text, 8)
        except ValueError:
            self.pos = start
            raise self.fail(
                f"a number; Logstash reads {text} as octal (leading 0) and cannot, as it has an 8 or 9"
            ) from None
        if octal != decimal:
            self.pos = start
            raise self.fail(
                f"a number; Logstash reads {text} as octal {octal} (leading 0): "
                f"write {decimal}, or {octal} if that is meant"
            )
        return decimal

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
        """`{ key => value ... }`, entries apart by whitespace; a key is a number, word or string, once."""
        self.enter()
        self.pos += 1
        entries: dict[str, Value] = {}
        written: set[str] = set()
        self.skip()
        spaced = True
        while not self.peek("}"):
            if not spaced:
                raise self.fail("whitespace between two entries")
            start = self.pos
            key = self.hash_key()
            if self.text[start : self.pos] in written:
                self.pos = start
                raise self.fail(
                    f"another key than {key!r}, which this hash has already (Logstash refuses that)"
                )
            written.add(self.text[start : self.pos])
            self.skip()
            self.expect("=>")
            self.skip()
            entries[key] = self.value()
            spaced = self.separated()
        self.pos += 1
        self.leave()
        return entries

    def hash_key(self) -> str:
        char = self.text[self.pos : self.pos + 1]
        if char in ('"', "'"):
            return self.string()
        if self.at_number():
            return str(self.number())
        key = self.match(_BAREWORD)
        if key is None:
            raise self.fail("a key (a quoted string, a number, or a word of two or more characters) or '}'")
        return key


def parse(text: str) -> Config:
    """Parse a pipeline; raise PipelineSyntaxError where Logstash would refuse it."""
    return _Parser(text).config()
