"""Example Elasticsearch clusters, and how tests read the StatefulSets a render makes of them.

Expected names are derived from the rendered objects wherever they can be (pod names from
a StatefulSet's name and replicas, seed hosts from its `serviceName`), so the tests check
that the pieces agree with each other, not that a literal was copied twice.
"""

from __future__ import annotations

from typing import Any

import yaml

from tests.conftest import find
from tools.render import PROJECT_DIR, Rendered

Manifest = dict[str, Any]

NAMESPACE = "elk-unit"
MASTERS: Manifest = {"name": "master", "replicas": 3, "roles": ["master"], "storage": {"size": "5Gi"}}
DATA: Manifest = {"name": "data", "replicas": 2, "roles": ["data", "ingest"], "storage": {"size": "100Gi"}}
EXAMPLE = {"nodeSets": [MASTERS, DATA]}
SIMPLE_THREE = {"replicas": 3}
START_SCRIPT = PROJECT_DIR / "scripts" / "elasticsearch-start.sh"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"


def node_sets(*sets: Manifest, **top: Any) -> dict[str, Any]:
    """An `elasticsearch` section with the given node sets and top-level keys."""
    return {"nodeSets": list(sets), **top}


MIXED_MASTERS = node_sets(MASTERS, {"name": "hot", "replicas": 2, "roles": ["master", "data"]})


MASTER_PODS = "elk-elasticsearch-master-0,elk-elasticsearch-master-1,elk-elasticsearch-master-2"


def es_statefulsets(rendered: Rendered) -> list[Manifest]:
    """The Elasticsearch StatefulSets, one per node set, in render order."""
    return [
        m
        for m in rendered.manifests
        if m["kind"] == "StatefulSet" and m["metadata"]["labels"]["app.kubernetes.io/name"] == "elasticsearch"
    ]


def by_name(rendered: Rendered) -> dict[str, Manifest]:
    """The Elasticsearch StatefulSets by name."""
    return {s["metadata"]["name"]: s for s in es_statefulsets(rendered)}


def container(statefulset: Manifest) -> Manifest:
    """The Elasticsearch container of a node set's pods."""
    containers: list[Manifest] = statefulset["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "elasticsearch")


def env(statefulset: Manifest) -> dict[str, Any]:
    """The container's literal environment, by name (secret references as None)."""
    return {e["name"]: e.get("value") for e in container(statefulset)["env"]}


def settings(rendered: Rendered, statefulset: Manifest) -> dict[str, Any]:
    """The elasticsearch.yml the pods of a StatefulSet mount, found through their config volume."""
    volumes = {v["name"]: v for v in statefulset["spec"]["template"]["spec"]["volumes"]}
    config_map = find(rendered.manifests, "ConfigMap", volumes["config"]["configMap"]["name"])
    parsed: dict[str, Any] = yaml.safe_load(config_map["data"]["elasticsearch.yml"])
    return parsed


def pod_names(statefulset: Manifest) -> list[str]:
    """The pod names the StatefulSet controller gives: `<statefulset>-<ordinal>`."""
    name = statefulset["metadata"]["name"]
    return [f"{name}-{ordinal}" for ordinal in range(statefulset["spec"]["replicas"])]


def record(rendered: Rendered, kind: str, name: str) -> dict[str, Any]:
    """The single resources.json record of a type and Pulumi name."""
    matches = [r for r in rendered.resources if r["type"] == kind and r["name"] == name]
    assert len(matches) == 1, f"expected one {kind}::{name}, found {len(matches)}"
    return matches[0]
