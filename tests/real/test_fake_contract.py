"""The fake Elasticsearch answers as a real node does, for every endpoint both serve.

The unit tests run the setup script against tests/fake_elasticsearch/. A fake can only
agree with its author, so the same requests go to the fake and to a real node here: their
status codes, and the parts of each answer the scripts read, must be the same.
"""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.fake_elasticsearch import FakeElasticsearch, serve
from tools.real_es.client import Answer
from tools.real_es.stack import RealStack

REPOSITORY = "elk-stack-contract"
LOCATION = "/usr/share/elasticsearch/snapshots/contract"
# What the setup script's regular expressions look for (scripts/elasticsearch-setup.sh).
SNAPSHOT_LISTING = re.compile(r'\{"snapshot":"([^"]+)","state":"([A-Z_]+)"\}')
STATE = re.compile(r'"state":"([A-Z_]+)"')


def nothing(answer: Answer) -> Any:
    return None


def error_type(answer: Answer) -> Any:
    return answer.body["error"]["type"] if isinstance(answer.body, dict) and "error" in answer.body else None


def acknowledged(answer: Answer) -> Any:
    return answer.body.get("acknowledged") if isinstance(answer.body, dict) else None


def whole_body(answer: Answer) -> Any:
    return answer.body


def listing(answer: Answer) -> Any:
    return [match.group(2) for match in SNAPSHOT_LISTING.finditer(answer.text)]


def snapshot_state(answer: Answer) -> Any:
    found = STATE.search(answer.text)
    return found.group(1) if found else None


def resolve_shape(answer: Answer) -> Any:
    return sorted(answer.body) if isinstance(answer.body, dict) else None


def cat_columns(answer: Answer) -> Any:
    return sorted({len(line.split()) for line in answer.text.splitlines() if line.strip()})


def feature_names(answer: Answer) -> Any:
    return sorted(re.findall(r'"feature_name":"([a-z_]+)"', answer.text))


@dataclass(frozen=True)
class Call:
    """One request of the contract, and what of its answer must agree."""

    method: str
    path: str
    body: Any
    compare: Callable[[Answer], Any]


CALLS = (
    Call("GET", "/_cluster/health?wait_for_status=yellow&timeout=5s", None, nothing),
    Call(
        "PUT",
        "/_component_template/contract@custom",
        {"template": {"settings": {"index.number_of_replicas": 0}}},
        acknowledged,
    ),
    Call(
        "PUT",
        "/_index_template/contract-broken",
        {"index_patterns": ["contract-b-*"], "composed_of": ["contract-absent"]},
        error_type,
    ),
    Call(
        "PUT",
        "/_index_template/contract",
        {
            "index_patterns": ["contract-*"],
            "composed_of": ["contract@custom", "contract-absent"],
            "ignore_missing_component_templates": ["contract-absent"],
        },
        acknowledged,
    ),
    Call(
        "PUT",
        "/contract-*/_settings?allow_no_indices=true&ignore_unavailable=true",
        {"index.number_of_replicas": 0},
        acknowledged,
    ),
    Call("GET", "/_security/user?filter_path=*.metadata.managed_by", None, whole_body),
    Call("GET", "/_security/role?filter_path=*.metadata.managed_by", None, whole_body),
    Call(
        "PUT",
        "/_cluster/settings",
        {"persistent": {"cluster.metadata.elk_stack_contract": "one"}},
        acknowledged,
    ),
    Call(
        "GET",
        "/_cluster/settings?filter_path=persistent.cluster.metadata.elk_stack_contract",
        None,
        whole_body,
    ),
    Call(
        "GET", "/_cluster/settings?filter_path=persistent.cluster.metadata.elk_stack_absent", None, whole_body
    ),
    Call("GET", "/_resolve/index/*?expand_wildcards=open,closed", None, resolve_shape),
    Call("GET", "/_cat/nodes?h=name,version", None, cat_columns),
    Call("GET", f"/_snapshot/{REPOSITORY}", None, error_type),
    Call("PUT", f"/_snapshot/{REPOSITORY}", {"type": "fs", "settings": {"location": LOCATION}}, acknowledged),
    Call(
        "POST",
        f"/_snapshot/{REPOSITORY}/_verify?timeout=90s",
        None,
        lambda a: sorted(a.body) if a.body else None,
    ),
    Call("GET", f"/_snapshot/{REPOSITORY}/absent", None, error_type),
    Call(
        "PUT",
        f"/_snapshot/{REPOSITORY}/contract-1?wait_for_completion=true",
        {"include_global_state": True},
        nothing,
    ),
    Call("GET", f"/_snapshot/{REPOSITORY}/contract-1", None, snapshot_state),
    Call(
        "GET",
        f"/_snapshot/{REPOSITORY}/_all?sort=start_time&order=desc&filter_path=snapshots.snapshot,snapshots.state",
        None,
        listing,
    ),
    Call(
        "GET",
        f"/_snapshot/{REPOSITORY}/contract-1?filter_path=snapshots.feature_states.feature_name",
        None,
        feature_names,
    ),
    Call(
        "POST",
        f"/_snapshot/{REPOSITORY}/contract-1/_restore?wait_for_completion=true",
        {"include_global_state": False, "feature_states": ["kibana"]},
        error_type,
    ),
    Call("POST", f"/_snapshot/{REPOSITORY}/absent/_restore?wait_for_completion=true", {}, error_type),
    Call("DELETE", f"/_snapshot/{REPOSITORY}", None, acknowledged),
)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeElasticsearch]:
    state = FakeElasticsearch()
    # The fake takes a snapshot in one answer; a real one taken with wait_for_completion too.
    state.snapshot_states = []
    server = serve(state)
    yield state
    server.shutdown()
    server.server_close()


def ask_fake(fake: FakeElasticsearch, call: Call) -> Answer:
    host, port = fake.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    body = None if call.body is None else json.dumps(call.body)
    connection.request(call.method, call.path, body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    text = response.read().decode()
    try:
        parsed = json.loads(text) if text else None
    except json.JSONDecodeError:
        parsed = None
    return Answer(response.status, parsed, text)


def test_the_fake_answers_as_a_real_node(snapshot_source: RealStack, fake: FakeElasticsearch) -> None:
    """One sequence of calls to both; every difference is listed at once."""
    differences = []
    for call in CALLS:
        real = snapshot_source.request(call.method, call.path, call.body, user="elk-setup-credentials")
        faked = ask_fake(fake, call)
        seen = (real.status, call.compare(real)), (faked.status, call.compare(faked))
        if seen[0] != seen[1]:
            differences.append(
                f"{call.method} {call.path}: real {seen[0]}, fake {seen[1]}\n  real: {real.text[:300]}"
            )
    assert not differences, "\n".join(differences)
