"""The LSCL parser: Logstash's config language, its errors, and a bound on nesting."""

from __future__ import annotations

import re

import pytest

from components.configuration.lscl import PipelineSyntaxError, Plugin, parse
from components.configuration.pipeline import SHIPPED_PIPELINES
from tools.render import PROJECT_DIR


def test_parse_reads_nested_hashes_arrays_codecs_and_comments() -> None:
    config = parse(
        """
        # a comment with { braces
        input {
          beats { port => 5044 add_field => { "env" => "qa" "tags" => ["a", 'b'] } }  # trailing
          tcp { port => 5000 codec => json_lines { target => "doc" } }
        }
        """
    )
    beats, tcp = config.sections["input"]
    assert beats.attributes == [("port", 5044), ("add_field", {"env": "qa", "tags": ["a", "b"]})]
    assert tcp.get("codec") == Plugin("json_lines", [("target", "doc")], line=5)
    assert (beats.line, tcp.line) == (4, 5)


def test_parse_keeps_escaped_quotes_and_hashes_inside_strings() -> None:
    (mutate,) = parse(r'filter { mutate { add_tag => "a \" # not a comment }" } }').sections["filter"]
    assert mutate.get("add_tag") == r"a \" # not a comment }"


def test_parse_lists_plugins_of_every_branch_and_skips_conditions() -> None:
    text = """
    output {
      if [level] == "x{" and [m] =~ /a{2}\\/b/ { elasticsearch { index => "a" } }
      else if [b] in ["c", "d"] { elasticsearch { index => "b" } }
      else { stdout { } }
      iffy { }
    }
    """
    assert [p.name for p in parse(text).sections["output"]] == [
        "elasticsearch",
        "elasticsearch",
        "stdout",
        "iffy",
    ]


def test_parse_reads_numbers_barewords_and_negative_values() -> None:
    (plugin,) = parse("filter { x { a => -1 b => 2.5 c => true d => 007 } }").sections["filter"]
    assert plugin.attributes == [("a", -1), ("b", 2.5), ("c", "true"), ("d", 7)]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("inputs { }", "line 1, column 1: expected input, filter or output"),
        ("input { tcp { port 5 } }", "line 1, column 20: expected '=>'"),
        ("input {\n  tcp { port => }\n}", "line 2, column 17: expected a value"),
        ('input { tcp { port => "5 } }', "line 1, column 23: expected a closing '\"'"),
        ("input { tcp { port => 5 }", "expected '}'"),
        ("output { if { stdout {} } }", "expected a condition"),
    ],
)
def test_parse_errors_name_the_line_and_column(text: str, where: str) -> None:
    with pytest.raises(PipelineSyntaxError, match=re.escape(where)):
        parse(text)


def _deep(kind: str, depth: int) -> str:
    """A pipeline whose `kind` of nesting goes `depth` levels deep, one level a line."""
    opening, middle, closing = {
        "arrays": ("[\n", "", "]"),
        "hashes": ('{ "a" =>\n', '"b"', "}"),
        "codecs": ("c { x =>\n", "1", "}"),
        "hashes, arrays and codecs": ('{ "a" => [ c { x =>\n', "1", "} ] }"),
        "conditionals": ("if [a] {\n", "drop { }", "}"),
        "else branches": ("if [a] { } else {\n", "drop { }", "}"),
    }[kind]
    inner = opening * depth + middle + closing * depth
    if "conditionals" not in kind and "branches" not in kind:
        return f"filter {{ mutate {{ add_tag =>\n{inner} }} }}"
    return f"filter {{\n{inner}\n}}"


# Each kind of nesting, and the line its 101st level opens on (the section is level 1).
NESTINGS = {
    "arrays": 100,
    "hashes": 100,
    "codecs": 100,
    "hashes, arrays and codecs": 34,
    "conditionals": 101,
    "else branches": 101,
}


@pytest.mark.parametrize(("kind", "line"), NESTINGS.items())
def test_nesting_deeper_than_any_real_pipeline_is_a_syntax_error_with_its_line(kind: str, line: int) -> None:
    for depth in (800, 3000):
        with pytest.raises(PipelineSyntaxError) as error:
            parse(_deep(kind, depth))
        assert re.fullmatch(
            rf"line {line}, column \d+: nested more than 100 levels deep .*", str(error.value)
        )


@pytest.mark.parametrize("kind", NESTINGS)
def test_nesting_up_to_the_limit_parses(kind: str) -> None:
    depth = {"hashes, arrays and codecs": 32}.get(kind, 98)  # 100 levels (98 for 3 a line) in all
    assert parse(_deep(kind, depth)).sections["filter"]


def test_every_shipped_pipeline_parses() -> None:
    for relative in SHIPPED_PIPELINES:
        assert parse((PROJECT_DIR / relative).read_text()).sections["output"], relative
