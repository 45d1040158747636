"""The Elasticsearch container's probes, run inside its pod with its environment, on a real node."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tools.real_es.stack import RealStack

POD = "elk-elasticsearch-0"
RED_INDEX = "elk-stack-red-probe"


def test_the_startup_probes_port_answers(qa: RealStack) -> None:
    """The startup probe is a TCP check of the HTTP port."""
    probe = qa.find("StatefulSet", "elk-elasticsearch")["spec"]["template"]["spec"]["containers"][0][
        "startupProbe"
    ]
    with socket.create_connection((qa.running[POD].address, probe["tcpSocket"]["port"]), timeout=5):
        pass


def test_readiness_passes_on_a_healthy_node(qa: RealStack) -> None:
    result = qa.running[POD].probe("readiness")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def red_index(qa: RealStack) -> Iterator[None]:
    """An index whose only shard may go to no node: the cluster is red until it is deleted."""
    settings = {"settings": {"index.routing.allocation.require._name": "nowhere", "number_of_replicas": 0}}
    answer = qa.request("PUT", f"/{RED_INDEX}?wait_for_active_shards=0", settings)
    assert answer.status == 200, answer.text
    yield
    assert qa.request("DELETE", f"/{RED_INDEX}").status == 200


@pytest.mark.usefixtures("red_index")
def test_readiness_still_passes_while_an_index_is_red(qa: RealStack) -> None:
    """One red index must not take every node out of its Service (elastic/helm-charts #60)."""
    assert qa.request("GET", "/_cluster/health").body["status"] == "red"
    running = qa.running[POD]
    steady = running.probe("readiness")
    assert steady.returncode == 0, steady.stdout + steady.stderr
    # A restarted container starts without its gate file: the first check must pass too.
    assert running.exec(["rm", "-f", "/tmp/.elk-stack-recovered"]).returncode == 0
    first = running.probe("readiness")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "status red" in first.stdout
