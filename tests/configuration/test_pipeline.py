"""Reading pipelines: listening ports, the file itself, variables and where outputs write."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from components.configuration import ConfigError, load_config
from components.configuration.pipeline import (
    SHIPPED_PIPELINES,
    ListeningPort,
    covers,
    listening_ports,
    port_name,
    read_pipeline,
    referenced_variables,
    uncovered_writes,
    write_targets,
)
from tools.render import PROJECT_DIR

IANA_SVC_NAME = re.compile(r"(?=.*[a-z])(?!-)(?!.*--)[a-z0-9-]{1,15}(?<!-)")


def ports(text: str) -> list[tuple[str, int, str]]:
    return [(p.name, p.port, p.protocol) for p in listening_ports(text)]


def port_problem(text: str) -> str:
    with pytest.raises(ValueError) as error:
        listening_ports(text)
    return str(error.value)


# Listening ports


def test_beats_keeps_its_port_beside_a_hash_setting() -> None:
    text = 'input { beats { port => 5044 add_field => { "source" => "beats" } } }'
    assert ports(text) == [("beats", 5044, "TCP")]


def test_a_codec_with_options_is_accepted() -> None:
    text = 'input { tcp { port => 5000 codec => json_lines { target => "doc" } } }'
    assert ports(text) == [("tcp", 5000, "TCP")]


def test_each_port_gets_the_protocol_its_plugin_listens_on() -> None:
    text = """
    input {
      udp { port => 5001 }
      syslog { }
      gelf { }
      gelf { port => 12300 use_tcp => true }
      http { }
      snmptrap { }
    }
    """
    assert ports(text) == [
        ("udp", 5001, "UDP"),
        ("syslog-tcp", 514, "TCP"),
        ("syslog-udp", 514, "UDP"),
        ("gelf", 12201, "UDP"),
        ("gelf-tcp", 12300, "TCP"),
        ("gelf-udp", 12300, "UDP"),
        ("http", 8080, "TCP"),
        ("snmptrap", 1062, "UDP"),
    ]


def test_gelf_takes_its_per_protocol_ports() -> None:
    text = "input { gelf { use_tcp => true use_udp => false port_tcp => 12202 } }"
    assert ports(text) == [("gelf", 12202, "TCP")]


def test_inputs_that_connect_out_listen_on_nothing() -> None:
    text = """
    input {
      kafka { topics => ["logs"] }
      http_poller { urls => { site => "http://x" } schedule => { every => "1m" } }
      redis { host => "redis" port => 6379 key => "logs" data_type => "list" }
      tcp { mode => "client" host => "x" port => 5000 }
    }
    """
    assert ports(text) == []


def test_an_unknown_input_with_a_port_is_taken_as_tcp() -> None:
    assert ports("input { my_listener { port => 7000 } }") == [("my-listener", 7000, "TCP")]


def test_ports_in_comments_filters_and_outputs_are_not_listening() -> None:
    text = """
    # input { tcp { port => 1 } }
    input { tcp { port => 5000 } }
    filter { mutate { } }
    output { tcp { host => "x" port => 7000 } }
    """
    assert ports(text) == [("tcp", 5000, "TCP")]


def test_a_variable_with_a_default_gives_the_default_port() -> None:
    assert ports('input { tcp { port => "${PORT:5000}" } }') == [("tcp", 5000, "TCP")]


def test_a_variable_without_a_default_is_left_to_the_variable_rule() -> None:
    text = 'input { tcp { port => "${PORT}" } }'
    assert ports(text) == []
    assert referenced_variables(text) == ["PORT"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("input { tcp { port => 0 } }", "input tcp (line 1): 0 is not a port between 1 and 65535"),
        ("input { udp { port => 99999 } }", "input udp (line 1): 99999 is not a port between 1 and 65535"),
        (
            'input { tcp { port => "abc" } }',
            "input tcp (line 1): 'abc' is not a port number "
            "(Logstash reads only plain digits, without a leading 0)",
        ),
        ("input { tcp { port => 5.5 } }", "input tcp (line 1): 5.5 is not a port number"),
        (
            "input { tcp { port => 5000 port => 5001 } }",
            "input tcp (line 1): [5000, 5001] is not a port number (the setting is given more than once)",
        ),
        *[
            (
                f'input {{ tcp {{ port => "{port}" }} }}',
                f"input tcp (line 1): {port!r} is not a port number "
                "(Logstash reads only plain digits, without a leading 0)",
            )
            for port in ("05000", " 5000", "+5000", "\uff15\uff10\uff10\uff10", "\u00b2", "${PORT:05000}")
        ],
        ("input { tcp { } }", "input tcp (line 1) needs a `port`"),
        (
            "input { tcp { port => 9600 } }",
            "input tcp (line 1): TCP port 9600 is already used by Logstash's API (api.http.port)",
        ),
        (
            "input {\n tcp { port => 5000 }\n beats { port => 5000 } }",
            "input beats (line 3): TCP port 5000 is already used by input tcp (line 2)",
        ),
    ],
)
def test_invalid_ports_are_refused(text: str, problem: str) -> None:
    assert port_problem(text) == problem


@pytest.mark.parametrize("port", ['"5000"', "5000", '"${PORT:5000}"', "5000 port => 5000"])
def test_a_port_logstash_reads_as_5000_is_5000(port: str) -> None:
    """A quoted number that reads back the same, and a setting repeated with the same value."""
    assert ports(f"input {{ tcp {{ port => {port} }} }}") == [("tcp", 5000, "TCP")]


def test_every_port_problem_is_reported_at_once() -> None:
    assert port_problem("input { tcp { port => 0 } udp { } }").count("input") == 2


def test_the_same_number_on_tcp_and_udp_is_two_ports() -> None:
    text = "input { tcp { port => 5000 } udp { port => 5000 } udp { port => 9600 } }"
    assert ports(text) == [("tcp", 5000, "TCP"), ("udp", 5000, "UDP"), ("udp-2", 9600, "UDP")]


def test_a_repeated_plugin_gets_numbered_names() -> None:
    text = "input { tcp { port => 5000 } tcp { port => 6000 } tcp { port => 7000 } }"
    assert [name for name, _, _ in ports(text)] == ["tcp", "tcp-2", "tcp-3"]


@pytest.mark.parametrize(
    "plugin",
    [
        "elastic_serverless_forwarder",
        "Upper_Case",
        "a__b",
        "_lead_",
        "x" * 40,
        "12345",
        "api",
        "a-" * 10,
    ],
)
def test_port_names_are_valid_iana_service_names_and_unique(plugin: str) -> None:
    text = f"input {{ {plugin} {{ port => 8080 }} {plugin} {{ port => 8081 }} syslog {{ port => 8082 }} }}"
    names = [name for name, _, _ in ports(text)]
    assert all(IANA_SVC_NAME.fullmatch(name) for name in names), names
    assert len(set(names) | {"api"}) == len(names) + 1, names


def test_port_name_keeps_the_readable_start_of_a_long_name() -> None:
    assert port_name("elastic_serverless_forwarder", "TCP", False, set()) == "elastic-serverl"
    assert port_name("elastic_serverless_forwarder", "TCP", False, {"elastic-serverl"}) == "elastic-serve-2"
    assert port_name("elastic_serverless_forwarder", "UDP", True, set()) == "elastic-ser-udp"


def test_listening_ports_are_values() -> None:
    assert listening_ports("input { tcp { port => 1 } }") == [ListeningPort("tcp", 1, "TCP")]


# Reading the file


def test_reading_a_path_too_long_for_the_file_system_is_a_clean_message(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match=r"^pipeline file 'a{60}\.\.\. \(5005 characters\)' cannot be read: "
    ):
        read_pipeline(tmp_path, "a" * 5000 + ".conf")


def test_reading_a_directory_is_a_clean_message(tmp_path: Path) -> None:
    (tmp_path / "pipelines").mkdir()
    with pytest.raises(ValueError, match=r"^pipeline file 'pipelines' is a directory, not a file$"):
        read_pipeline(tmp_path, "pipelines")


def test_reading_a_file_that_is_not_utf8_is_a_clean_message(tmp_path: Path) -> None:
    (tmp_path / "latin.conf").write_bytes("# für\ninput { }".encode("latin-1"))
    with pytest.raises(ValueError, match=r"^pipeline file 'latin.conf' is not UTF-8 text \(byte 3\)$"):
        read_pipeline(tmp_path, "latin.conf")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_reading_an_unreadable_file_is_a_clean_message(tmp_path: Path) -> None:
    (tmp_path / "secret.conf").write_text("input { }")
    (tmp_path / "secret.conf").chmod(0)
    with pytest.raises(ValueError, match="permission denied"):
        read_pipeline(tmp_path, "secret.conf")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_reading_a_device_is_refused_without_reading_it(device: str) -> None:
    with pytest.raises(ValueError, match=rf"^pipeline file '{device}' is not a regular file"):
        read_pipeline(Path("/"), device)


def test_reading_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.conf")
    with pytest.raises(ValueError, match=r"^pipeline file 'fifo.conf' is not a regular file"):
        read_pipeline(tmp_path, "fifo.conf")


def test_reading_a_file_larger_than_a_config_map_holds_is_refused(tmp_path: Path) -> None:
    limit = 1000 * 1024
    (tmp_path / "big.conf").write_bytes(b"#" * (limit - 1) + b"\n")
    assert len(read_pipeline(tmp_path, "big.conf")) == limit
    (tmp_path / "big.conf").write_bytes(b"#" * limit + b"\n")
    with pytest.raises(ValueError, match=r"^pipeline file 'big.conf' is larger than 1000 KiB"):
        read_pipeline(tmp_path, "big.conf")


def test_reading_a_path_with_a_nul_byte_is_a_clean_message(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^pipeline file 'a\\x00b' cannot be read"):
        read_pipeline(tmp_path, "a\0b")


# Variables


def test_referenced_variables_come_from_values_not_comments_or_defaults() -> None:
    text = """
    # ${IN_A_COMMENT}
    output { elasticsearch { hosts => ["${HOSTS}"] user => "${USER:logstash}" password => "a#${PASS}" } }
    """
    assert referenced_variables(text) == ["HOSTS", "PASS"]


# Where outputs write


def test_write_targets_of_the_elasticsearch_output() -> None:
    text = """
    output {
      elasticsearch { data_stream => "true" data_stream_dataset => "app" }
      elasticsearch { index => "myapp-%{+YYYY.MM.dd}" }
      elasticsearch { }
      elasticsearch { data_stream => false }
      elasticsearch { ilm_rollover_alias => "rolled" }
      stdout { }
    }
    """
    assert [(t.kind, t.written, t.pattern) for t in write_targets(text)] == [
        ("data stream", "logs-app-default", "logs-app-default"),
        ("index", "myapp-%{+YYYY.MM.dd}", "myapp-*"),
        ("data stream", "logs-generic-default", "logs-generic-default"),
        ("index", "ecs-logstash-%{+yyyy.MM.dd}", "ecs-logstash-*"),
        ("rollover alias", "rolled", "rolled"),
    ]


@pytest.mark.parametrize(
    ("allowed", "pattern", "expected"),
    [
        ("logs-*-*", "logs-springboot-default", True),
        ("logs-*-*", "logs-*-default", True),
        ("logs-*-*", "myapp-*", False),
        ("logs-*-*", "logs-*", False),
        ("logs-app-*", "logs-*-default", False),
        ("*", "anything-*", True),
        ("myapp-*", "myapp-*", True),
        ("/myapp-.*/", "myapp-*", True),
    ],
)
def test_covers_is_pattern_inclusion(allowed: str, pattern: str, expected: bool) -> None:
    assert covers(allowed, pattern) is expected


def test_covers_takes_patterns_of_any_length() -> None:
    """A few hundred `*` once exhausted Python's stack (RecursionError) in the fuzzer's hands."""
    stars = "*" * 1500
    assert covers(f"logs-{stars}", f"logs-{stars}-x") is True
    assert covers(f"logs-{stars}x", f"logs-{stars}-y") is False


def test_uncovered_writes_name_only_what_no_pattern_reaches() -> None:
    text = 'output { elasticsearch { index => "myapp-%{+YYYY.MM.dd}" } elasticsearch { } }'
    assert [t.written for t in uncovered_writes(text, ["logs-*-*"])] == ["myapp-%{+YYYY.MM.dd}"]
    assert uncovered_writes(text, ["logs-*-*", "myapp-*"]) == []


def test_the_shipped_pipelines_write_where_the_default_privileges_reach() -> None:
    for relative in SHIPPED_PIPELINES:
        assert uncovered_writes((PROJECT_DIR / relative).read_text(), ["logs-*-*"]) == [], relative


# At the config level


def config_problems(tmp_path: Path, pipeline: str, **sections: object) -> list[str]:
    raw = {"namespace": "elk", "logstash": json.dumps({"pipeline": pipeline})}
    raw |= {key: json.dumps(value) for key, value in sections.items()}
    try:
        load_config(raw, tmp_path)
    except ConfigError as error:
        return error.problems
    return []


def test_a_pipeline_path_too_long_is_reported_at_logstash_pipeline(tmp_path: Path) -> None:
    (found,) = config_problems(tmp_path, "a" * 5000 + ".conf")
    assert found.startswith("logstash.pipeline: pipeline file 'aaaa")
    assert "cannot be read: File name too long" in found


def test_an_empty_pipeline_path_is_reported_at_logstash_pipeline(tmp_path: Path) -> None:
    assert config_problems(tmp_path, "") == [
        "logstash.pipeline: is empty; name a `.conf` file, or remove the key for the shipped pipeline"
    ]


def test_a_pipeline_that_is_a_directory_is_reported_at_logstash_pipeline(tmp_path: Path) -> None:
    (tmp_path / "pipelines").mkdir()
    assert config_problems(tmp_path, "pipelines") == [
        "logstash.pipeline: pipeline file 'pipelines' is a directory, not a file"
    ]


def test_a_syntax_error_is_reported_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "broken.conf").write_text("input {\n  tcp { port => 5000\n}\n")
    (found,) = config_problems(tmp_path, "broken.conf")
    assert found.startswith(
        "logstash.pipeline: broken.conf: not a valid Logstash pipeline: line 4, column 1:"
    )


def test_a_pipeline_nested_too_deep_is_reported_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "deep.conf").write_text(
        "input { tcp { port => 5000 tags => " + "[" * 800 + "]" * 800 + " } }"
    )
    assert config_problems(tmp_path, "deep.conf") == [
        "logstash.pipeline: deep.conf: not a valid Logstash pipeline: line 1, column 134: "
        "nested more than 100 levels deep (brackets, braces and `if` blocks); no real pipeline "
        "nests so deep, so this is refused rather than read"
    ]


def test_a_pipeline_that_is_a_device_is_reported_at_logstash_pipeline(tmp_path: Path) -> None:
    (found,) = config_problems(tmp_path, "/dev/zero")
    assert found.startswith("logstash.pipeline: pipeline file '/dev/zero' is not a regular file")


def test_port_problems_are_reported_at_logstash_pipeline(tmp_path: Path) -> None:
    (tmp_path / "ports.conf").write_text("input { tcp { port => 99999 } udp { port => 0 } }")
    assert config_problems(tmp_path, "ports.conf") == [
        "logstash.pipeline: ports.conf: input tcp (line 1): 99999 is not a port between 1 and 65535; "
        "input udp (line 1): 0 is not a port between 1 and 65535"
    ]


def test_a_port_variable_without_a_default_is_reported_as_unset(tmp_path: Path) -> None:
    (tmp_path / "port.conf").write_text('input { tcp { port => "${PORT}" } }')
    assert config_problems(tmp_path, "port.conf") == [
        "logstash.pipeline: port.conf uses ${PORT}, which nothing sets"
    ]


def write_warnings(tmp_path: Path, output: str, **security: object) -> list[str]:
    (tmp_path / "out.conf").write_text(f"input {{ tcp {{ port => 5000 }} }}\noutput {{ {output} }}\n")
    raw = {"namespace": "elk", "logstash": json.dumps({"pipeline": "out.conf"})}
    if security:
        raw["security"] = json.dumps(security)
    return load_config(raw, tmp_path).logstash.pipeline_warnings()


def test_a_write_outside_the_logstash_indices_is_warned(tmp_path: Path) -> None:
    (warning,) = write_warnings(tmp_path, 'elasticsearch { index => "myapp-%{+YYYY.MM.dd}" }')
    assert warning == (
        "logstash.pipeline: out.conf line 2 writes to the index 'myapp-%{+YYYY.MM.dd}', which "
        "security.logstashIndices ['logs-*-*'] (the default) does not cover: Elasticsearch will refuse "
        "these events (403) at run time. Add a matching pattern to security.logstashIndices, or write "
        "to a name that matches one."
    )


def test_a_data_stream_outside_the_logstash_indices_is_warned(tmp_path: Path) -> None:
    output = 'elasticsearch { data_stream => true data_stream_type => "metrics" }'
    (warning,) = write_warnings(tmp_path, output, logstashIndices=["logs-*-*", "myapp-*"])
    assert "the data stream 'metrics-generic-default'" in warning
    assert "['logs-*-*', 'myapp-*'] does not cover" in warning


def test_a_covered_write_or_security_off_gives_no_warning(tmp_path: Path) -> None:
    output = 'elasticsearch { index => "myapp-%{+YYYY.MM.dd}" }'
    assert write_warnings(tmp_path, output, logstashIndices=["myapp-*"]) == []
    assert write_warnings(tmp_path, output, enabled=False) == []
