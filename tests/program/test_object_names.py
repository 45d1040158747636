"""No two objects of a stack share a kind and a name, whatever the node sets are called.

Node set names are the names users choose that go into object names
(`elk-elasticsearch-<set>-...`). Two objects with one kind and name would be one object in
the namespace, written by two Pulumi resources in turn. So every word of every name the
program gives its other objects is tried as a node set name: the config must refuse it,
or the render must keep every name apart.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from components.configuration import ConfigError, load_config
from tests.clusters import MASTERS
from tests.conftest import flat_config
from tools.render import PROJECT_DIR, Rendered, run_program

PREFIX = "elk-elasticsearch-"
NODE_SET_NAME = re.compile(r"[a-z]([-a-z0-9]{0,18}[a-z0-9])?")
SNAPSHOTS = {
    "repository": {"type": "fs", "storage": {"size": "5Gi", "storageClass": "nfs"}},
    "beforeUpgrade": True,
}


def everything(node_set: str) -> dict[str, Any]:
    """Every kind of object the program makes: node sets, snapshots, a restore, an Ingress."""
    return {
        "elasticsearch": {
            "nodeSets": [MASTERS, {"name": node_set, "replicas": 2, "roles": ["data"]}],
            "snapshots": {**SNAPSHOTS, "restoreFrom": {"snapshot": "latest"}},
        },
        "kibana": {"ingress": {"host": "kibana.example.com"}},
    }


def duplicates(rendered: Rendered) -> list[tuple[str, str]]:
    counted = Counter((manifest["kind"], manifest["metadata"]["name"]) for manifest in rendered.manifests)
    return sorted(key for key, count in counted.items() if count > 1)


def candidates(rendered: Rendered) -> list[str]:
    """Each word and run of words after `elk-elasticsearch-` in the render's names."""
    found = set()
    for manifest in rendered.manifests:
        name: str = manifest["metadata"]["name"]
        if not name.startswith(PREFIX):
            continue
        words = name.removeprefix(PREFIX).split("-")
        found |= {"-".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, len(words) + 1)}
    return sorted(word for word in found if NODE_SET_NAME.fullmatch(word))


BASELINE = run_program(flat_config(**everything("data")), stack="names")


def test_the_baseline_has_every_kind_of_object_once() -> None:
    kinds = {manifest["kind"] for manifest in BASELINE.manifests}
    assert {"Job", "Ingress", "StatefulSet", "ConfigMap", "Secret", "PersistentVolumeClaim"} <= kinds
    assert duplicates(BASELINE) == []
    assert len(candidates(BASELINE)) > 20


@pytest.mark.slow
@pytest.mark.parametrize("name", candidates(BASELINE))
def test_a_node_set_named_after_another_object_is_refused_or_kept_apart(name: str) -> None:
    config = flat_config(**everything(name))
    try:
        load_config({key.removeprefix("elk-stack:"): value for key, value in config.items()}, PROJECT_DIR)
    except ConfigError as error:
        assert all("nodeSets" in problem for problem in error.problems), error.problems
        return
    assert duplicates(run_program(config, stack="names")) == [], f"node set {name!r}"
