"""Three real nodes from one render: formation, a foreign CA, a restart, a snapshot, an upgrade, a shrink.

The tests run in file order on one cluster, as its life goes: it forms on 9.2.0, refuses a
node signed by another CA, keeps its documents over a pod restart, rotates its CA in three
rolls without falling apart, takes the snapshot the
program takes before a version change, rolls to 9.4.3 in the program's order, refuses
to start a 9.2.0 node on 9.4.3 data (why a downgrade must be stopped before it starts),
and shrinks to one node through the program's topology Jobs.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator

import pytest

from tests.real.conftest import STACK_FILES, open_stack, run_setup
from tools.real_es import distribution, pods, runner
from tools.real_es.stack import RealStack
from tools.render import Rendered

DOCS_INDEX = "real-tier-docs"
DOCS = 200
FOREIGN_SECONDS = 25


@pytest.fixture(scope="module")
def cluster() -> Iterator[RealStack]:
    """The three-node stack at the upgrade's starting version, its nodes started together."""
    stack = open_stack("three-nodes", STACK_FILES / "three-nodes.yaml")
    stack.render(version=distribution.UPGRADE_FROM_VERSION)
    stack.start(stack.all_nodes())
    yield stack
    stack.stop_all()


def node_versions(stack: RealStack) -> dict[str, str]:
    answer = stack.request("GET", "/_cat/nodes?h=name,version&format=json")
    assert answer.status == 200, answer.text
    return {node["name"]: node["version"] for node in answer.body}


def document_count(stack: RealStack) -> int:
    answer = stack.request("GET", f"/{DOCS_INDEX}/_count")
    assert answer.status == 200, answer.text
    count: int = answer.body["count"]
    return count


def test_three_nodes_form_one_cluster_with_their_own_certificates(cluster: RealStack) -> None:
    assert sorted(node_versions(cluster)) == [
        "elk-elasticsearch-0",
        "elk-elasticsearch-1",
        "elk-elasticsearch-2",
    ]
    run = run_setup(cluster)
    assert run.returncode == 0, run.output
    assert "verifying snapshot repository" in run.output
    lines = []
    for number in range(DOCS):
        lines += [{"index": {"_index": DOCS_INDEX, "_id": str(number)}}, {"number": number}]
    settings = {"settings": {"number_of_shards": 3, "number_of_replicas": 1}}
    assert cluster.request("PUT", f"/{DOCS_INDEX}", settings).status == 200
    client = cluster.client("elk-elastic-credentials")
    answer = client.request("POST", cluster.url("/_bulk?refresh=true"), lines, ndjson=True)
    assert answer.status == 200 and answer.body["errors"] is False, answer.text
    assert document_count(cluster) == DOCS


def test_each_node_sizes_its_thread_pools_for_its_cpu_limit(cluster: RealStack) -> None:
    """The stack file's CPU limit is 1 on a host with more cores: node.processors says 1."""
    answer = cluster.request("GET", "/_nodes/os?filter_path=nodes.*.name,nodes.*.os.allocated_processors")
    assert answer.status == 200, answer.text
    allocated = {node["name"]: node["os"]["allocated_processors"] for node in answer.body["nodes"].values()}
    assert allocated == dict.fromkeys(node_versions(cluster), 1)
    assert (os.cpu_count() or 1) > 1, "on one core the limit would not show"


def test_a_node_signed_by_another_ca_is_refused(cluster: RealStack) -> None:
    """The same pod, rendered by another stack (a new CA), in place of node 2: it never joins."""
    cluster.stop("elk-elasticsearch-2")
    foreign = RealStack(
        "three-nodes",
        cluster.config,
        runner.Workspace(cluster.workspace.root.with_name("foreign"), cluster.workspace.addresses),
    )
    foreign.render(version=distribution.UPGRADE_FROM_VERSION)
    assert (
        foreign.secret("elk-elasticsearch-ca")["ca.crt"] != cluster.secret("elk-elasticsearch-ca")["ca.crt"]
    )
    [intruder] = foreign.start([foreign.node(2)], wait=False)
    try:
        runner.wait_for_log(intruder, "publish_address", 90)
        time.sleep(FOREIGN_SECONDS)
        assert sorted(node_versions(cluster)) == ["elk-elasticsearch-0", "elk-elasticsearch-1"]
        assert intruder.probe("readiness").returncode != 0, "it formed no cluster of its own either"
    finally:
        foreign.stop_all()


def test_a_restarted_node_keeps_every_document(cluster: RealStack) -> None:
    """Node 2 back on its own claim, as a pod restarted by Kubernetes: nothing is lost."""
    cluster.start([cluster.node(2)])
    assert len(node_versions(cluster)) == 3
    assert document_count(cluster) == DOCS


ROTATION_STEPS: tuple[dict[str, object], ...] = (
    {"caGeneration": 1, "caRotation": "trust"},
    {"caGeneration": 1, "caRotation": "switch"},
    {"caGeneration": 1},
)


def with_tls(stack: RealStack, tls: dict[str, object]) -> str:
    """The stack's `elasticsearch` section with these TLS keys, as a flat config value."""
    section = json.loads(stack.config["elk-stack:elasticsearch"])
    return json.dumps({**section, "tls": {**section.get("tls", {}), **tls}})


def loaded_common_names(stack: RealStack) -> set[str]:
    """The common names of the certificates and CAs the answering node has loaded."""
    answer = stack.request("GET", "/_ssl/certificates")
    assert answer.status == 200, answer.text
    return {re.sub(r".*CN=([^,]+).*", r"\1", entry["subject_dn"]) for entry in answer.body}


def test_the_ca_rotates_in_three_rolls_and_the_cluster_stays_formed(cluster: RealStack) -> None:
    """Each step as `pulumi up` rolls it: highest ordinal first, each node back before the next.

    At every moment some nodes hold the step's files and the others the step before's,
    and the three stay one cluster; afterwards the nodes trust only the new CA.
    """
    for tls in ROTATION_STEPS:
        cluster.render(elasticsearch=with_tls(cluster, tls))
        for ordinal in (2, 1, 0):
            pod = f"elk-elasticsearch-{ordinal}"
            cluster.pre_stop(pod)
            cluster.stop(pod)
            cluster.start([cluster.node(ordinal)])
            assert len(node_versions(cluster)) == 3, f"{tls}: {pod} rejoined"
    assert document_count(cluster) == DOCS
    names = loaded_common_names(cluster)
    assert "elk-stack CA 1" in names and "elk-stack CA" not in names, names
    # The rest of the cluster's life goes on with the new CA.
    cluster.config["elk-stack:elasticsearch"] = with_tls(cluster, ROTATION_STEPS[-1])


@pytest.fixture(scope="module")
def before_upgrade(cluster: RealStack) -> Rendered:
    """The 9.2.0 render, kept before the stack is rendered at the new version."""
    return cluster.rendered


def test_the_snapshot_job_snapshots_before_the_version_changes(
    cluster: RealStack, before_upgrade: Rendered
) -> None:
    cluster.render(version=distribution.DEFAULT_VERSION)
    [job] = cluster.job_names("elk-elasticsearch-snapshot-")
    run = cluster.run_job(job)
    assert run.returncode == 0, run.output
    snapshot = pods.container(cluster.manifests, "Job", job).env["SNAPSHOT_BEFORE_CHANGE"]
    assert f"snapshot {snapshot} succeeded" in run.output
    answer = cluster.request("GET", f"/_snapshot/elk-stack/{snapshot}")
    assert answer.body["snapshots"][0]["state"] == "SUCCESS", answer.text


def allocation(stack: RealStack) -> str | None:
    """`cluster.routing.allocation.enable` as the cluster holds it (None: Elasticsearch's default, all)."""
    answer = stack.request("GET", "/_cluster/settings?flat_settings=true")
    assert answer.status == 200, answer.text
    enable: str | None = answer.body["persistent"].get("cluster.routing.allocation.enable")
    return enable


def test_a_rolling_upgrade_in_the_programs_order_keeps_every_document(cluster: RealStack) -> None:
    """One set: the StatefulSet's RollingUpdate, highest ordinal first, each Ready before the next.

    Each restart bracketed as Elastic's older procedure says, as this distribution has no
    node shutdown API (its registration is refused first): the preStop hook limits allocation
    to primaries and flushes; the readiness probe allows allocation again once the node rejoined.
    """
    for ordinal in (2, 1, 0):
        pod = f"elk-elasticsearch-{ordinal}"
        output = cluster.pre_stop(pod)
        assert f"allocation limited to primaries while {pod} restarts (no node shutdown API)" in output
        assert "flushed" in output
        assert allocation(cluster) == "primaries"
        cluster.stop(pod)
        cluster.start([cluster.node(ordinal)])
        assert allocation(cluster) is None, "the restarted node's readiness allowed allocation again"
        assert document_count(cluster) == DOCS
    assert set(node_versions(cluster).values()) == {distribution.DEFAULT_VERSION}


def test_an_older_node_refuses_newer_data(cluster: RealStack, before_upgrade: Rendered) -> None:
    """Why a downgrade must be refused before it starts: the old version cannot read the data."""
    cluster.stop("elk-elasticsearch-2")
    old = pods.container(before_upgrade.manifests, "StatefulSet", "elk-elasticsearch", ordinal=2)
    [downgraded] = cluster.start([old], wait=False)
    downgraded.process.wait(120)
    assert downgraded.process.returncode != 0
    # 9.2.0 fails reading its own node metadata: the 9.4.3 node wrote it with a newer Lucene codec.
    log = downgraded.log.read_text(errors="replace")
    assert re.search(r"cannot downgrade|Codec with name '\w+' does not exist", log), downgraded.log_tail()
    cluster.running.pop("elk-elasticsearch-2")
    cluster.start([cluster.node(2)])
    assert document_count(cluster) == DOCS


def shrunk_to_one(stack: RealStack) -> dict[str, str]:
    """Render the stack with one node instead of three; the topology Jobs' names by step."""
    elasticsearch = {**json.loads(stack.config["elk-stack:elasticsearch"]), "replicas": 1}
    stack.render(version=distribution.DEFAULT_VERSION, elasticsearch=json.dumps(elasticsearch))
    return {
        step: job
        for step in ("leave", "settle")
        for job in stack.job_names(f"elk-elasticsearch-topology-{step}-")
    }


def exclusions(stack: RealStack) -> tuple[list[str], str | None]:
    """The voting exclusions (node names) and the allocation exclusion by name, as the cluster holds them."""
    state = stack.request("GET", "/_cluster/state/metadata?filter_path=metadata.cluster_coordination")
    assert state.status == 200, state.text
    voting = state.body["metadata"]["cluster_coordination"]["voting_config_exclusions"]
    settings = stack.request("GET", "/_cluster/settings?flat_settings=true")
    excluded = settings.body["persistent"].get("cluster.routing.allocation.exclude._name")
    return sorted(node["node_name"] for node in voting), excluded


def shards_by_node(stack: RealStack) -> dict[str, int]:
    answer = stack.request("GET", "/_cat/allocation?h=node,shards&format=json")
    assert answer.status == 200, answer.text
    return {row["node"]: int(row["shards"]) for row in answer.body if row["node"] != "UNASSIGNED"}


def test_a_shrink_the_nodes_that_stay_cannot_hold_is_refused_before_anything_moves(
    cluster: RealStack,
) -> None:
    """The documents' index keeps 1 replica: its 2 copies of a shard need 2 data nodes, and 1 stays."""
    jobs = shrunk_to_one(cluster)
    run = cluster.run_job(jobs["leave"])
    assert run.returncode != 0, run.output
    assert (
        f"refused: index {DOCS_INDEX} has 1 replica(s), so its 2 copies of each shard need 2 data nodes, "
        "and 1 would stay once elk-elasticsearch-1,elk-elasticsearch-2 left"
    ) in run.output
    assert exclusions(cluster) == ([], None)
    assert min(shards_by_node(cluster).values()) > 0, "no shard moved"


def test_three_nodes_leave_for_one_through_the_programs_jobs_with_every_document(cluster: RealStack) -> None:
    """Leave (voting exclusions, drain), the StatefulSet's scale-down, settle: quorum and data kept."""
    answer = cluster.request("PUT", f"/{DOCS_INDEX}/_settings", {"index": {"number_of_replicas": 0}})
    assert answer.status == 200, answer.text
    jobs = shrunk_to_one(cluster)
    run = cluster.run_job(jobs["leave"])
    assert run.returncode == 0, run.output
    assert "excluding elk-elasticsearch-1,elk-elasticsearch-2 from the voting configuration" in run.output
    assert "drained elk-elasticsearch-1,elk-elasticsearch-2: they hold no shard" in run.output
    assert exclusions(cluster) == (
        ["elk-elasticsearch-1", "elk-elasticsearch-2"],
        "elk-elasticsearch-1,elk-elasticsearch-2",
    )
    shards = shards_by_node(cluster)
    assert shards["elk-elasticsearch-1"] == shards["elk-elasticsearch-2"] == 0, shards
    # The StatefulSet scaled down: both pods go at once (podManagementPolicy: Parallel),
    # each after its preStop hook, which leaves allocation alone for a node that leaves.
    for pod in ("elk-elasticsearch-2", "elk-elasticsearch-1"):
        assert f"{pod} is leaving the cluster: no restart bracket" in cluster.pre_stop(pod)
    assert allocation(cluster) is None
    cluster.stop("elk-elasticsearch-2")
    cluster.stop("elk-elasticsearch-1")
    health = cluster.request("GET", "/_cluster/health?wait_for_nodes=1&wait_for_status=green&timeout=60s")
    assert health.status == 200 and health.body["status"] == "green", health.text
    assert list(node_versions(cluster)) == ["elk-elasticsearch-0"]
    assert document_count(cluster) == DOCS
    settled = cluster.run_job(jobs["settle"])
    assert settled.returncode == 0, settled.output
    assert "voting and allocation exclusions cleared" in settled.output
    assert exclusions(cluster) == ([], None)
