"""A new cluster of dedicated masters and data nodes forms whichever of its pods starts first.

A first deploy starts the master-eligible sets and the others side by side
(components/resources/elasticsearch_cluster.py), so a data node may be up before any
master: it has to wait inside Elasticsearch, and become Ready once the master has formed
the cluster.
"""

from __future__ import annotations

from tests.real.conftest import STACK_FILES, open_stack
from tools.real_es.runner import wait_for_log

# Elasticsearch's own words while a node finds no elected master.
NO_MASTER = "master not discovered"
WAIT_SECONDS = 180


def test_a_data_node_up_before_the_master_joins_the_cluster_the_master_forms() -> None:
    stack = open_stack("master-and-data", STACK_FILES / "master-and-data.yaml")
    stack.render()
    try:
        [data] = stack.start([stack.node(0, "elk-elasticsearch-data")], wait=False)
        wait_for_log(data, NO_MASTER, WAIT_SECONDS, pause=1)
        assert data.probe("readiness").returncode != 0, "Ready without a cluster"
        stack.start([stack.node(0, "elk-elasticsearch-master")])
        stack.wait_ready()
        answer = stack.request("GET", "/_cat/nodes?h=name,node.role&format=json")
        assert answer.status == 200, answer.text
        roles = {node["name"]: node["node.role"] for node in answer.body}
        assert roles == {"elk-elasticsearch-master-0": "m", "elk-elasticsearch-data-0": "di"}
    finally:
        stack.stop_all()
