"""The Elasticsearch readiness script against a fake node: per-node readiness, recovery gate."""

from __future__ import annotations

import base64
import http.server
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from components.specs.elasticsearch import PRE_STOP_SCRIPT, READY_SCRIPT

SETTLED_RED = {"status": "red", "initializing_shards": 0, "delayed_unassigned_shards": 0}


@dataclass
class FakeNode:
    """Answers `/_cluster/health` as one node would: 503 while it knows no elected master."""

    joined: bool = True
    health: dict[str, Any] = field(default_factory=lambda: {"status": "green"})
    events_pending: bool = False
    requests: list[tuple[str, str]] = field(default_factory=list)
    # When set, only this Authorization header is let in; anything else gets a 401.
    accepts: str | None = None
    url: str = ""
    # Persistent cluster settings, flat, as `GET /_cluster/settings` answers and `PUT` changes them.
    settings: dict[str, Any] = field(default_factory=dict)
    # The node shutdown API (the shutdown module): absent, it answers 400 as Elasticsearch
    # answers a path it has no handler for. Registrations by node id.
    shutdown_api: bool = False
    node_id: str = "n0de1d"
    shutdowns: dict[str, dict[str, Any]] = field(default_factory=dict)

    def shutdown(self, method: str, path: str, body: dict[str, Any] | None) -> tuple[int, Any]:
        """`_nodes/_local` (nodes info, always there) and `_nodes/<id>/shutdown`, as the node answers them."""
        if path.startswith("/_nodes/_local"):
            return 200, {"nodes": {self.node_id: {"name": "elk-elasticsearch-0"}}}
        if not self.shutdown_api:
            return 400, {"error": f"no handler found for uri [{path}] and method [{method}]", "status": 400}
        node_id = path.split("/")[2]
        if method == "PUT" and body is not None:
            self.shutdowns[node_id] = body
        elif method == "DELETE":
            self.shutdowns.pop(node_id, None)
        elif method == "GET":
            known = [{"node_id": node_id, "type": "RESTART"}] if node_id in self.shutdowns else []
            return 200, {"nodes": known}
        return 200, {"acknowledged": True}


def handler_for(state: FakeNode) -> type[http.server.BaseHTTPRequestHandler]:
    """The HTTP handler that answers as `state` says."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def answer(self, status: int, body: Any) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(body, separators=(",", ":")).encode())

        def do_DELETE(self) -> None:
            state.requests.append((f"DELETE {self.path}", self.headers.get("Authorization", "")))
            self.answer(*state.shutdown("DELETE", self.path, None))

        def do_POST(self) -> None:
            state.requests.append((f"POST {self.path}", self.headers.get("Authorization", "")))
            self.answer(200, {"_shards": {"failed": 0}})

        def do_GET(self) -> None:
            state.requests.append((self.path, self.headers.get("Authorization", "")))
            if self.path.startswith("/_nodes/"):
                self.answer(*state.shutdown("GET", self.path, None))
                return
            if state.accepts is not None and self.headers.get("Authorization") != state.accepts:
                status, answer = 401, {"error": {"type": "security_exception"}, "status": 401}
            elif not state.joined:
                status, answer = 503, {"error": {"type": "master_not_discovered_exception"}, "status": 503}
            elif "wait_for_events" in self.path and state.events_pending:
                status, answer = 408, {**state.health, "timed_out": True}
            elif self.path.startswith("/_cluster/settings"):
                status, answer = 200, {"persistent": state.settings} if state.settings else {}
            else:
                status, answer = 200, {"cluster_name": "elk", "timed_out": False, **state.health}
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(answer).encode())

        def do_PUT(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append((f"PUT {self.path}", self.headers.get("Authorization", "")))
            if self.path.startswith("/_nodes/"):
                self.answer(*state.shutdown("PUT", self.path, body))
                return
            for key, value in body["persistent"].items():
                state.settings.pop(key, None) if value is None else state.settings.update({key: value})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"acknowledged":true}')

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def node() -> Iterator[FakeNode]:
    state = FakeNode()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_for(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    # Polled every 50 ms (not 0.5 s), so shutdown() at the end of a test returns at once.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield state
    server.shutdown()
    server.server_close()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def probe(
    url: str, tmp_path: Path, password: str | None = None, **extra: str
) -> subprocess.CompletedProcess[str]:
    """Run the probe as the kubelet would, with the gate and the marker under `tmp_path`.

    With a password, the environment is the node container's: the probe user's credentials
    and, beside them, the bootstrap password of `elastic`.
    """
    environment = {"PATH": os.environ["PATH"], "READY_GATE": str(tmp_path / "gate"), **extra}
    if password is not None:
        environment |= {"PROBE_USERNAME": "elk-stack-probe", "PROBE_PASSWORD": password}
    return subprocess.run(
        ["bash", str(READY_SCRIPT), url, str(tmp_path / "formed")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_joined_node_of_a_red_cluster_is_ready_once_recovery_settled(node: FakeNode, tmp_path: Path) -> None:
    node.health = SETTLED_RED
    assert probe(node.url, tmp_path).returncode == 0
    assert (tmp_path / "gate").exists() and (tmp_path / "formed").exists()


def test_a_ready_node_stays_ready_when_the_cluster_turns_red(node: FakeNode, tmp_path: Path) -> None:
    assert probe(node.url, tmp_path).returncode == 0
    node.health = {"status": "red", "initializing_shards": 3, "delayed_unassigned_shards": 2}
    assert probe(node.url, tmp_path).returncode == 0
    assert all("wait_for_status" not in path for path, _ in node.requests)


def test_node_that_has_not_joined_is_not_ready(node: FakeNode, tmp_path: Path) -> None:
    node.joined = False
    result = probe(node.url, tmp_path)
    assert result.returncode != 0
    assert "not joined" in result.stdout
    assert not (tmp_path / "formed").exists(), "no cluster formed: the bootstrap node must keep bootstrapping"
    assert not (tmp_path / "gate").exists()


def test_node_that_leaves_the_cluster_turns_not_ready(node: FakeNode, tmp_path: Path) -> None:
    assert probe(node.url, tmp_path).returncode == 0
    node.joined = False
    assert probe(node.url, tmp_path).returncode != 0


def test_node_that_does_not_answer_is_not_ready(tmp_path: Path) -> None:
    assert probe("http://127.0.0.1:9", tmp_path).returncode != 0


@pytest.mark.parametrize(
    "health",
    [
        {"status": "yellow", "initializing_shards": 2, "delayed_unassigned_shards": 0},
        {"status": "yellow", "initializing_shards": 0, "delayed_unassigned_shards": 4},
        {"status": "red", "initializing_shards": 1, "delayed_unassigned_shards": 0},
        {"status": "yellow"},
    ],
)
def test_restarted_node_waits_until_its_shards_recovered(
    node: FakeNode, tmp_path: Path, health: dict[str, Any]
) -> None:
    """A rolling restart moves on only when the restarted pod is Ready: not while recovering."""
    node.health = health
    result = probe(node.url, tmp_path)
    assert result.returncode != 0
    assert (tmp_path / "formed").exists(), "it has joined"
    assert not (tmp_path / "gate").exists()
    node.health = {"status": "yellow", "initializing_shards": 0, "delayed_unassigned_shards": 0}
    assert probe(node.url, tmp_path).returncode == 0
    assert (tmp_path / "gate").exists()


def test_restarted_node_waits_for_the_masters_queued_reroute(node: FakeNode, tmp_path: Path) -> None:
    node.events_pending = True
    assert probe(node.url, tmp_path).returncode != 0
    node.events_pending = False
    assert probe(node.url, tmp_path).returncode == 0
    health = [path for path, _ in node.requests if path.startswith("/_cluster/health")]
    assert len(health) == 2 and all("wait_for_events=languid" in path for path in health)


def test_green_passes_the_gate(node: FakeNode, tmp_path: Path) -> None:
    node.health = {"status": "green", "initializing_shards": 1, "delayed_unassigned_shards": 0}
    assert probe(node.url, tmp_path).returncode == 0


def test_logs_in_as_the_probe_user_from_the_environment(node: FakeNode, tmp_path: Path) -> None:
    assert probe(node.url, tmp_path, password="s3cret").returncode == 0
    assert probe(node.url, tmp_path, password="s3cret").returncode == 0
    expected = basic("elk-stack-probe", "s3cret")
    assert [auth for _, auth in node.requests] == [expected] * 5
    assert [path for path, _ in node.requests] == [
        "/_cluster/health?wait_for_events=languid&timeout=1s&master_timeout=2s",
        "/_nodes/_local?filter_path=nodes.*.name",
        f"/_nodes/{node.node_id}/shutdown",
        "/_cluster/settings?filter_path=persistent.cluster.routing.allocation.enable",
        "/_cluster/health?master_timeout=2s",
    ], "each request of a probe run is one of the few its user may make"


def test_a_node_back_from_a_bracketed_restart_allows_allocation_again_once_joined(
    node: FakeNode, tmp_path: Path
) -> None:
    """The preStop hook limited allocation to primaries; the first answer of a master ends that."""
    node.settings = {"cluster.routing.allocation.enable": "primaries", "other.setting": "kept"}
    node.joined = False
    assert probe(node.url, tmp_path).returncode != 0
    assert node.settings["cluster.routing.allocation.enable"] == "primaries", "not before it joined"
    node.joined = True
    node.events_pending = True
    result = probe(node.url, tmp_path)
    assert result.returncode != 0, "the reroute after the join still runs"
    assert "joined; allocation allowed again after the restart" in result.stdout
    assert node.settings == {"other.setting": "kept"}
    node.events_pending = False
    assert probe(node.url, tmp_path).returncode == 0


def test_allocation_a_person_set_otherwise_is_left_alone(node: FakeNode, tmp_path: Path) -> None:
    node.settings = {"cluster.routing.allocation.enable": "none"}
    assert probe(node.url, tmp_path).returncode == 0
    assert node.settings == {"cluster.routing.allocation.enable": "none"}
    assert not any(path.startswith("PUT") for path, _ in node.requests)


def test_a_changed_elastic_password_keeps_the_node_ready(node: FakeNode, tmp_path: Path) -> None:
    """Someone changed `elastic`'s password through the API: the pod's copy is stale, and
    Elasticsearch lets in only the file-realm probe user. The probe must not notice."""
    node.accepts = basic("elk-stack-probe", "probe-pw")
    stale = {"ELASTIC_PASSWORD": "bootstrap-pw"}
    assert probe(node.url, tmp_path, password="probe-pw", **stale).returncode == 0
    assert probe(node.url, tmp_path, password="probe-pw", **stale).returncode == 0
    assert {auth for _, auth in node.requests} == {node.accepts}


def test_a_refused_probe_user_is_not_ready(node: FakeNode, tmp_path: Path) -> None:
    node.accepts = basic("elk-stack-probe", "other")
    result = probe(node.url, tmp_path, password="probe-pw")
    assert result.returncode == 1
    assert "HTTP 401" in result.stdout


# --- the restart bracket: the node shutdown API, or allocation limited to primaries -------


def pre_stop(url: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """Run the preStop hook as the kubelet would, without its wait."""
    environment = {"PATH": os.environ["PATH"], "HOSTNAME": "elk-elasticsearch-0", **extra}
    return subprocess.run(
        ["bash", str(PRE_STOP_SCRIPT), url, "0"], env=environment, capture_output=True, text=True, timeout=30
    )


def test_a_restarting_node_is_registered_with_the_shutdown_api(node: FakeNode) -> None:
    node.shutdown_api = True
    result = pre_stop(node.url, RESTART_ALLOCATION_DELAY="10m")
    assert result.returncode == 0
    assert (
        "elk-elasticsearch-0 registered for a restart with the node shutdown API (allocation delay 10m)"
        in result.stdout
    )
    assert node.shutdowns == {
        node.node_id: {
            "type": "restart",
            "reason": "pod elk-elasticsearch-0 is stopping",
            "allocation_delay": "10m",
        }
    }
    assert node.settings == {}, "allocation stays as it is: the registration holds this node's replicas"
    assert ("POST /_flush", "") in node.requests


def test_without_the_shutdown_api_allocation_is_limited_to_primaries(node: FakeNode) -> None:
    """The distribution on Maven Central has no shutdown module: Elastic's older procedure."""
    result = pre_stop(node.url)
    assert result.returncode == 0
    assert (
        "allocation limited to primaries while elk-elasticsearch-0 restarts (no node shutdown API)"
        in result.stdout
    )
    assert node.settings == {"cluster.routing.allocation.enable": "primaries"}


def test_the_node_back_from_a_registered_restart_clears_its_registration(
    node: FakeNode, tmp_path: Path
) -> None:
    node.shutdown_api = True
    node.shutdowns = {node.node_id: {"type": "restart"}, "other": {"type": "remove"}}
    result = probe(node.url, tmp_path)
    assert result.returncode == 0
    assert "joined; its restart registration (node shutdown API) cleared" in result.stdout
    assert node.shutdowns == {"other": {"type": "remove"}}, "another node's registration is not this node's"
    assert probe(node.url, tmp_path).returncode == 0


def test_without_the_shutdown_api_the_probe_goes_on(node: FakeNode, tmp_path: Path) -> None:
    result = probe(node.url, tmp_path)
    assert result.returncode == 0, result.stdout
    assert not any(path.startswith("DELETE") for path, _ in node.requests)
