"""`scripts/elasticsearch-start.sh`, run as a pod runs it, with a stand-in for the image's entrypoint.

The initial masters are passed on a node's first start only, and only to the nodes named.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.clusters import MASTER_PODS, START_SCRIPT


@pytest.fixture
def entrypoint(tmp_path: Path) -> Path:
    """A stand-in for the image's entrypoint that reports what it was started with."""
    script = tmp_path / "docker-entrypoint.sh"
    script.write_text('#!/usr/bin/env bash\necho "args: $*"\nenv | grep initial_master || true\n')
    script.chmod(0o755)
    return script


def start(
    entrypoint: Path,
    data_path: Path,
    initial_masters: str | None,
    hostname: str = "elk-elasticsearch-master-0",
) -> list[str]:
    """Run the start script as the pod would; return the lines the fake entrypoint printed.

    `initial_masters` None leaves the variable unset, as on data-only pods.
    """
    environment = {
        "PATH": os.environ["PATH"],
        "HOSTNAME": hostname,
        "ES_ENTRYPOINT": str(entrypoint),
        "FORMED_MARKER": str(data_path / ".elk-stack-cluster-formed"),
    }
    if initial_masters is not None:
        environment["INITIAL_MASTER_NODES"] = initial_masters
    result = subprocess.run(
        ["bash", str(START_SCRIPT)], env=environment, capture_output=True, text=True, check=True, timeout=30
    )
    return [line for line in result.stdout.splitlines() if line.startswith(("args:", "cluster."))]


def test_first_start_bootstraps_with_the_initial_masters(entrypoint: Path, tmp_path: Path) -> None:
    assert start(entrypoint, tmp_path, MASTER_PODS) == [
        "args: eswrapper",
        f"cluster.initial_master_nodes={MASTER_PODS}",
    ]


def test_once_the_cluster_formed_the_setting_is_never_passed_again(entrypoint: Path, tmp_path: Path) -> None:
    """Elastic warns against leaving the setting once the cluster has formed."""
    (tmp_path / ".elk-stack-cluster-formed").touch()
    assert start(entrypoint, tmp_path, MASTER_PODS) == ["args: eswrapper"]


def test_a_restart_before_the_cluster_formed_still_bootstraps(entrypoint: Path, tmp_path: Path) -> None:
    """Node metadata (`_state`) appears at the first start, before any cluster exists: not a sign."""
    (tmp_path / "_state").mkdir()
    assert start(entrypoint, tmp_path, MASTER_PODS)[1] == f"cluster.initial_master_nodes={MASTER_PODS}"


def test_data_only_pods_without_the_variable_start_plainly(entrypoint: Path, tmp_path: Path) -> None:
    assert start(entrypoint, tmp_path, None, hostname="elk-elasticsearch-data-0") == ["args: eswrapper"]


def test_no_initial_masters_configured_means_none_passed(entrypoint: Path, tmp_path: Path) -> None:
    assert start(entrypoint, tmp_path, "") == ["args: eswrapper"]


@pytest.mark.parametrize("hostname", ["elk-elasticsearch-master-1", "elk-elasticsearch-master-2"])
def test_every_initial_master_can_bootstrap(entrypoint: Path, tmp_path: Path, hostname: str) -> None:
    """Elastic's rule: the same list on every master-eligible node, so a Pending master-0 stops nothing."""
    assert start(entrypoint, tmp_path, MASTER_PODS, hostname=hostname) == [
        "args: eswrapper",
        f"cluster.initial_master_nodes={MASTER_PODS}",
    ]


@pytest.mark.parametrize("hostname", ["elk-elasticsearch-master-3", "elk-elasticsearch-master-", "master-0"])
def test_a_node_outside_the_list_never_bootstraps(entrypoint: Path, tmp_path: Path, hostname: str) -> None:
    """Nodes added later (a scale-up) must never form a second cluster among themselves."""
    assert start(entrypoint, tmp_path, MASTER_PODS, hostname=hostname) == ["args: eswrapper"]
