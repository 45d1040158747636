"""`scripts/elasticsearch-topology.sh` against a small fake cluster: the paths real nodes do not show.

The real tier (tests/real/test_cluster.py) runs the replica refusal, the exclusions, the
drain and the settle on real nodes. Here: the disk refusal with its numbers, more masters
than Elasticsearch can exclude, a change that replaces the whole cluster, nothing leaving,
and a settle that keeps the exclusions of a node set Pulumi deletes after it. Each checks
what the script sent as well as what it said.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from components.specs.clients import CLIENT_LIBRARY, TOPOLOGY_SCRIPT

GIB = 1024**3
DECLARED = "^(elk-elasticsearch-master-0|elk-elasticsearch-data-0)$"
SETS = "^(elk-elasticsearch-master|elk-elasticsearch-data)-[0-9]+$"


@dataclass
class FakeCluster:
    """Nodes (name → roles), their shards and disk, and every change the script sends."""

    nodes: dict[str, str] = field(default_factory=dict)
    allocation: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    """node → (shards, bytes of shards, bytes free, bytes of disk)."""
    replicas: dict[str, str] = field(default_factory=dict)
    """index → its `settings.index` JSON, as the cluster state holds it."""
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    url: str = ""

    def cat_nodes(self, columns: list[str]) -> str:
        rows = [{"name": name, "node.role": roles} for name, roles in sorted(self.nodes.items())]
        return cat(rows, columns)

    def cat_allocation(self, columns: list[str]) -> str:
        rows = [
            {"node": node, "shards": s, "disk.indices": used, "disk.avail": free, "disk.total": total}
            for node, (s, used, free, total) in self.allocation.items()
        ]
        return cat(rows, columns)

    def metadata(self) -> dict[str, Any]:
        indices = {name: {"settings": {"index": json.loads(index)}} for name, index in self.replicas.items()}
        return {"metadata": {"indices": indices}}


def cat(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A `_cat` answer: the columns `h` asks for, space-separated, one row a line."""
    return "".join(" ".join(str(row[column]) for column in columns) + "\n" for row in rows)


def columns(path: str) -> list[str]:
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    return query["h"][0].split(",")


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    state = FakeCluster()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path
            if path.startswith("/_cluster/health"):
                self.reply({"status": "green"})
            elif path.startswith("/_cat/nodes"):
                self.reply(state.cat_nodes(columns(path)))
            elif path.startswith("/_cat/allocation"):
                self.reply(state.cat_allocation(columns(path)))
            elif path.startswith("/_cluster/state/metadata"):
                self.reply(state.metadata())
            else:
                self.reply({"error": f"no route for {path}"}, 404)

        def change(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            state.changes.append((self.command, self.path, self.rfile.read(length).decode()))
            self.reply({"acknowledged": True})

        def do_PUT(self) -> None:
            self.change()

        def do_POST(self) -> None:
            self.change()

        def do_DELETE(self) -> None:
            self.change()

        def reply(self, body: Any, status: int = 200) -> None:
            text = body if isinstance(body, str) else json.dumps(body)
            self.send_response(status)
            self.end_headers()
            self.wfile.write(text.encode())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield state
    server.shutdown()
    server.server_close()


def run(cluster: FakeCluster, step: str) -> subprocess.CompletedProcess[str]:
    """The script as the Job runs it, from a directory beside its client library."""
    environment = {
        "PATH": os.environ["PATH"],
        "ES_URL": cluster.url,
        "TOPOLOGY_STEP": step,
        "DECLARED_NODES": DECLARED,
        "DECLARED_SETS": SETS,
        "POLL_ATTEMPTS": "2",
        "POLL_SECONDS": "0",
        "WAIT_SECONDS": "0",
    }
    command = ["bash", str(TOPOLOGY_SCRIPT)]
    assert CLIENT_LIBRARY.exists()
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60, check=False)


def three_data_nodes(cluster: FakeCluster, free_gib: int) -> None:
    """One master and data-0 declared; data-1 leaving with 30 GiB of shards."""
    cluster.nodes = {
        "elk-elasticsearch-master-0": "m",
        "elk-elasticsearch-data-0": "dis",
        "elk-elasticsearch-data-1": "dis",
    }
    cluster.allocation = {
        "elk-elasticsearch-data-0": (10, 30 * GIB, free_gib * GIB, 100 * GIB),
        "elk-elasticsearch-data-1": (10, 30 * GIB, 70 * GIB, 100 * GIB),
    }
    cluster.replicas = {"logs": '{"number_of_replicas":"0"}', ".security-7": '{"auto_expand_replicas":"0-1"}'}


def test_a_drain_the_staying_disks_cannot_take_is_refused_with_the_numbers(cluster: FakeCluster) -> None:
    """40 GiB free on data-0, of which 15 GiB lie above the 85% watermark: 25 GiB of room for 30."""
    three_data_nodes(cluster, free_gib=40)
    result = run(cluster, "leave")
    assert result.returncode == 1
    assert (
        "refused: elk-elasticsearch-data-1 hold 30720 MiB of shards, and the data nodes that stay have "
        "25600 MiB free below the 85% disk watermark; grow their storage or keep more data nodes in "
        "elk-stack:elasticsearch. Nothing was excluded or moved"
    ) in result.stderr
    assert cluster.changes == []


def test_a_drain_that_fits_excludes_the_leaving_node_and_waits_for_it(cluster: FakeCluster) -> None:
    """Room enough: exclusions set, then the wait (here cut short: the fake never moves a shard)."""
    three_data_nodes(cluster, free_gib=60)
    result = run(cluster, "leave")
    assert result.returncode == 1
    assert "the shards did not all move after 2 checks: 10 shard(s) still on elk-elasticsearch-data-1" in (
        result.stderr
    )
    assert cluster.changes == [
        ("DELETE", "/_cluster/voting_config_exclusions?wait_for_removal=false", ""),
        (
            "PUT",
            "/_cluster/settings",
            '{"persistent":{"cluster.routing.allocation.exclude._name":"elk-elasticsearch-data-1"}}',
        ),
    ]


def test_more_masters_leaving_than_can_be_excluded_from_voting_are_refused(cluster: FakeCluster) -> None:
    cluster.nodes = {f"elk-elasticsearch-master-{i}": "m" for i in range(12)} | {
        "elk-elasticsearch-data-0": "d"
    }
    result = run(cluster, "leave")
    assert result.returncode == 1
    assert "refused: 11 master-eligible nodes would leave at once, more than the 10" in result.stderr
    assert cluster.changes == []


def test_a_change_that_replaces_the_whole_cluster_drains_nothing(cluster: FakeCluster) -> None:
    cluster.nodes = {"elk-elasticsearch-0": "cdhilmrstw"}
    result = run(cluster, "leave")
    assert result.returncode == 0, result.stderr
    assert "the change replaces the whole cluster, so nothing is drained" in result.stdout
    assert cluster.changes == []


def test_with_no_node_leaving_every_exclusion_is_cleared(cluster: FakeCluster) -> None:
    """A rerun after an interrupted change that was taken back leaves no stale exclusion."""
    cluster.nodes = {"elk-elasticsearch-master-0": "m", "elk-elasticsearch-data-0": "d"}
    result = run(cluster, "leave")
    assert result.returncode == 0, result.stderr
    assert "no node leaves the cluster" in result.stdout
    assert cluster.changes == [
        ("DELETE", "/_cluster/voting_config_exclusions?wait_for_removal=false", ""),
        ("PUT", "/_cluster/settings", '{"persistent":{"cluster.routing.allocation.exclude._name":null}}'),
    ]


def test_settle_keeps_the_exclusions_of_a_node_set_deleted_after_it(cluster: FakeCluster) -> None:
    cluster.nodes = {
        "elk-elasticsearch-master-0": "m",
        "elk-elasticsearch-data-0": "d",
        "elk-elasticsearch-warm-0": "w",
    }
    result = run(cluster, "settle")
    assert result.returncode == 0, result.stderr
    assert "keeping the exclusions of elk-elasticsearch-warm-0" in result.stdout
    assert cluster.changes == []


def test_settle_waits_for_a_scaled_down_node_to_leave(cluster: FakeCluster) -> None:
    cluster.nodes = {
        "elk-elasticsearch-master-0": "m",
        "elk-elasticsearch-data-0": "d",
        "elk-elasticsearch-data-1": "d",
    }
    result = run(cluster, "settle")
    assert result.returncode == 1
    assert "nodes of a scaled-down set are still in the cluster after 2 checks: elk-elasticsearch-data-1" in (
        result.stderr
    )
    assert cluster.changes == []
