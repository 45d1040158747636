"""Hand-written manifests for the invariants' own tests: each passes every check unless told otherwise."""

from __future__ import annotations

from typing import Any

from tests import invariants
from tests.invariants import Manifest, Record

ES_IMAGE = "docker.elastic.co/elasticsearch/elasticsearch:9.4.3"
LS_IMAGE = "docker.elastic.co/logstash/logstash:9.4.3"


def container(name: str = "app", image: str = "example/app:1", **fields: Any) -> Manifest:
    """A container that passes every check unless `fields` says otherwise."""
    return {
        "name": name,
        "image": image,
        "resources": {
            "requests": {"cpu": "100m", "memory": "1Gi", "ephemeral-storage": "64Mi"},
            "limits": {"memory": "1Gi", "ephemeral-storage": "256Mi"},
        },
        "readinessProbe": {"tcpSocket": {"port": 8080}},
        "livenessProbe": {"tcpSocket": {"port": 8080}},
        **fields,
    }


def workload(
    kind: str = "Deployment",
    name: str = "app",
    containers: list[Manifest] | None = None,
    volumes: list[Manifest] | None = None,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> Manifest:
    """A workload manifest in the `elk-unit` namespace around the given pod parts."""
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "elk-unit"},
        "spec": {
            **spec,
            "template": {
                "metadata": {"annotations": annotations or {}},
                "spec": {"containers": containers or [container()], "volumes": volumes or []},
            },
        },
    }


def elasticsearch(mounts: list[Manifest], volumes: list[Manifest] | None = None, **spec: Any) -> Manifest:
    """An Elasticsearch StatefulSet with a `data` claim template and the given mounts."""
    claim = {"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}
    es = container("elasticsearch", ES_IMAGE, volumeMounts=mounts)
    return workload(
        "StatefulSet", "es", [es], volumes, **{"volumeClaimTemplates": [claim], "replicas": 1, **spec}
    )


def claim(name: str) -> Manifest:
    """A PersistentVolumeClaim manifest."""
    return {"kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": "elk-unit"}}


def pvc_record(protect: bool | None, retain: bool | None) -> Record:
    """A resources.json record of an Elasticsearch data PVC."""
    return {
        "type": invariants.PVC_TYPE,
        "name": "elasticsearch-data-0",
        "parent": "elk-stack:index:ElasticsearchNode::elasticsearch",
        "protect": protect,
        "retainOnDelete": retain,
    }


def heap(variable: str, options: str, limit: str | None, image: str) -> list[str]:
    """Heap violations of one container with the given JVM options and memory limit."""
    resources = {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": limit} if limit else {}}
    jvm = container("jvm", image, env=[{"name": variable, "value": options}], resources=resources)
    return invariants.heap_violations([workload(containers=[jvm])])
