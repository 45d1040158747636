"""The JSON readers of scripts/lib/elasticsearch-client.sh: the only regular expressions the Jobs use.

The Elasticsearch image has no JSON parser, so the scripts read Elasticsearch's compact
answers with these functions; each is run here on answers shaped as a real node's.
"""

from __future__ import annotations

import subprocess

from components.specs.clients import CLIENT_LIBRARY
from tests.fake_elasticsearch import needs_bash_and_curl

pytestmark = needs_bash_and_curl


def call(function: str, *args: str) -> tuple[int, str]:
    """Run one library function with `args`; its exit status and output lines."""
    script = f'source "$1"; shift; {function} "$@"'
    result = subprocess.run(
        ["bash", "-c", script, "bash", str(CLIENT_LIBRARY), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode, result.stdout


def test_every_string_value_of_a_key_in_order() -> None:
    answer = '{"indices":[{"name":"my-notes","attributes":["open"]}],"data_streams":[{"name":"logs-a-b"}]}'
    assert call("json_strings", "name", answer) == (0, "my-notes\nlogs-a-b\n")
    assert call("json_strings", "absent", answer) == (0, "")


def test_a_nested_setting_is_found_by_its_last_key() -> None:
    answer = '{"persistent":{"cluster":{"metadata":{"elk_stack_restored_from":"nightly-1"}}}}'
    assert call("json_strings", "elk_stack_restored_from", answer) == (0, "nightly-1\n")


def test_a_number_or_a_failure() -> None:
    answer = '{"snapshot":{"shards":{"total":3,"failed":0,"successful":3}}}'
    assert call("json_number", "failed", answer) == (0, "0\n")
    assert call("json_number", "total", answer) == (0, "3\n")
    assert call("json_number", "absent", answer)[0] != 0


def test_snapshots_with_their_states_in_the_answers_order() -> None:
    answer = '{"snapshots":[{"snapshot":"b","state":"PARTIAL"},{"snapshot":"a","state":"SUCCESS"}]}'
    assert call("json_snapshots", answer) == (0, "b PARTIAL\na SUCCESS\n")


def test_only_names_this_stack_marked_as_its_own() -> None:
    answer = (
        '{"logstash-writer":{"metadata":{"managed_by":"elk-stack"}},'
        '"someone":{"metadata":{"managed_by":"another-tool"}}}'
    )
    assert call("json_managed_names", answer) == (0, "logstash-writer\n")


def test_an_array_of_strings_read_and_replaced() -> None:
    request = '{"feature_states":["kibana","fleet"],"include_global_state":false}'
    assert call("json_array", "feature_states", request) == (0, "kibana\nfleet\n")
    assert call("json_array", "feature_states", '{"feature_states": ["kibana"]}') == (0, "kibana\n")
    assert call("json_with_array", "feature_states", "none", request) == (
        0,
        '{"feature_states":["none"],"include_global_state":false}\n',
    )
    assert call("json_with_array", "feature_states", "kibana fleet", '{"x":1}') == (0, '{"x":1}\n')
