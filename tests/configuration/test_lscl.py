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


# --- what Logstash accepts, and what it reads otherwise than it looks -------------------


def one_plugin(settings: str) -> Plugin:
    (plugin,) = parse(f"filter {{ x {{ {settings} }} }}").sections["filter"]
    return plugin


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("05000", "Logstash reads 05000 as octal 2560 (leading 0): write 5000, or 2560 if that is meant"),
        ("-010", "Logstash reads -010 as octal -8 (leading 0): write -10, or -8 if that is meant"),
        ("08080", "Logstash reads 08080 as octal (leading 0) and cannot, as it has an 8 or 9"),
        ("5000.", "write 5000.0 or 5000 (Logstash before 9.4 cannot read 5000.)"),
    ],
)
def test_a_number_logstash_reads_otherwise_is_refused(number: str, problem: str) -> None:
    with pytest.raises(PipelineSyntaxError, match=re.escape(problem)):
        one_plugin(f"port => {number}")


def test_a_leading_zero_that_changes_nothing_is_read() -> None:
    assert one_plugin("a => 007 b => 0 c => -0 d => 00.5").attributes == [
        ("a", 7),
        ("b", 0),
        ("c", 0),
        ("d", 0.5),
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (r"'it\'s'", r"it\'s"),
        (r'"a\nb"', r"a\nb"),
        (r'"tab\tand \\ kept"', r"tab\tand \\ kept"),
    ],
)
def test_only_the_closing_quote_is_escaped_and_backslashes_stay(text: str, value: str) -> None:
    assert one_plugin(f"a => {text}").get("a") == value


def test_a_string_ending_in_a_backslash_never_closes_as_in_logstash() -> None:
    with pytest.raises(PipelineSyntaxError, match="expected a closing"):
        parse(r'filter { x { path => "C:\\" } }')


@pytest.mark.parametrize(
    "settings",
    ['a => "1"b => "2"', "a => 5000# note\nb => 1", 'a => { "k" => 1"j" => 2 }'],
)
def test_settings_and_hash_entries_need_whitespace_between_them(settings: str) -> None:
    with pytest.raises(PipelineSyntaxError, match="expected whitespace between two"):
        one_plugin(settings)


def test_a_comment_after_whitespace_separates_settings() -> None:
    assert one_plugin("a => 1 # note\nb => 2").attributes == [("a", 1), ("b", 2)]


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (
            "a => { b => 1 }",
            "expected a key (a quoted string, a number, or a word of two or more characters)",
        ),
        ('a => { "k" => 1 "k" => 2 }', "expected another key than 'k', which this hash has already"),
        ("codec => json codec => plain", "expected one codec (Logstash refuses a second one in a plugin)"),
    ],
)
def test_keys_logstash_refuses_are_refused(settings: str, problem: str) -> None:
    with pytest.raises(PipelineSyntaxError, match=re.escape(problem)):
        one_plugin(settings)


def test_hash_keys_may_be_words_numbers_and_strings_once_each_as_written() -> None:
    assert one_plugin("""a => { "k" => 1 'k' => 2 k_2 => 3 10 => 4 }""").get("a") == {
        "k": 2,
        "k_2": 3,
        "10": 4,
    }


def test_a_repeated_setting_is_merged_as_logstash_merges_it() -> None:
    plugin = one_plugin(
        'tag => "a" tag => "b" tag => "c" port => 1 port => 1 h => { "x" => 1 } h => { "y" => 2 }'
    )
    assert plugin.get("tag") == ["a", "b", "c"]
    assert plugin.get("port") == 1
    assert plugin.get("h") == {"x": 1, "y": 2}


def test_a_quoted_plugin_name_is_refused() -> None:
    with pytest.raises(PipelineSyntaxError, match="expected a plugin name without quotes"):
        parse('input { "tcp" { port => 5000 } }')


@pytest.mark.parametrize(
    "condition",
    [
        "[a]",
        "![a][b]",
        "!([a] == 1)",
        '([a] == 1 or [b] != "x") and [c] in ["d", "e"]',
        "[a] not in [b] xor [c] nand [d]",
        r"[a] =~ /x\/y{2}/ and [b] !~ 'z'",
        '"x" in [tags]',
        "[n] >= -1.5 and [n] < 10",
        '[a][b] <= 3 or [c] > 2 or "v" == [d]',
    ],
)
def test_conditions_of_logstash_grammar_parse(condition: str) -> None:
    text = f"filter {{ if {condition} {{ drop {{ }} }} else if [z] {{ }} else {{ }} }}"
    assert [plugin.name for plugin in parse(text).sections["filter"]] == ["drop"]


@pytest.mark.parametrize(
    ("condition", "problem"),
    [
        ("[type] == apache", "a bare word is no value here"),
        ("foo bar", "a bare word is no value here"),
        ("[a] =~ [b]", "a /regexp/ or a string after =~ or !~"),
        ('!"x"', "a [field] selector or '(' after '!'"),
        ("[a] ==", "a string, number, [field], array or /regexp/"),
        ("exists([a])", "Logstash parses a method call in a condition but cannot run it"),
        ("[a] not[b]", "expected '{'"),
        ("([a]", "expected ')'"),
    ],
)
def test_conditions_logstash_refuses_are_refused(condition: str, problem: str) -> None:
    with pytest.raises(PipelineSyntaxError, match=re.escape(problem)):
        parse(f"filter {{ if {condition} {{ drop {{ }} }} }}")


def test_a_comment_ended_by_a_lone_carriage_return_is_refused() -> None:
    with pytest.raises(PipelineSyntaxError, match="a line break after the comment"):
        parse("filter { # note\r x { } }")
    assert parse("filter { # note\r\n x { } }").sections["filter"][0].name == "x"


# --- Logstash's own documentation ----------------------------------------------------

DOCS = PROJECT_DIR / "tests" / "fixtures" / "lscl-docs"
KNOWN_INVALID = {
    line.split("\t")[0]: line.split("\t")[1]
    for line in (DOCS / "KNOWN_INVALID.tsv").read_text().splitlines()[1:]
}
SETTING = re.compile(r"\s*[A-Za-z0-9_-]+\s*=>")


def as_pipeline(relative: str) -> str:
    """A whole example as it is; a fragment in a filter section, or in a plugin if it is settings."""
    text = (DOCS / relative).read_text()
    if relative.startswith("full/"):
        return text
    if SETTING.match(text):
        return f"filter {{ example {{\n{text}\n}} }}"
    return f"filter {{\n{text}\n}}"


EXAMPLES = sorted(f"{path.parent.name}/{path.name}" for path in DOCS.glob("*/*.conf"))


@pytest.mark.parametrize("relative", EXAMPLES)
def test_every_example_of_logstashs_docs_parses_and_the_broken_ones_do_not(relative: str) -> None:
    """The docs' examples (tests/fixtures/lscl-docs/SOURCES.tsv: page, commit and line of each).

    A few are broken on the page itself (KNOWN_INVALID.tsv says how, by Logstash's grammar):
    those must be refused, the rest read.
    """
    if relative in KNOWN_INVALID:
        with pytest.raises(PipelineSyntaxError):
            parse(as_pipeline(relative))
    else:
        parse(as_pipeline(relative))


def test_the_docs_examples_are_all_there() -> None:
    sources = (DOCS / "SOURCES.tsv").read_text().splitlines()[1:]
    assert sorted(line.split("\t")[0] for line in sources) == EXAMPLES
    assert len(EXAMPLES) == 92
