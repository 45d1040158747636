"""The namespace, data volume, data protection and heap checks, each on small hand-written manifests."""

from __future__ import annotations

import pytest

from tests import invariants
from tests.specs.manifest_builders import (
    ES_IMAGE,
    LS_IMAGE,
    claim,
    container,
    elasticsearch,
    heap,
    pvc_record,
    workload,
)


def test_object_without_namespace_is_flagged() -> None:
    """No namespace means kubectl's current one: a hard-coded guess by another name."""
    config_map = {"kind": "ConfigMap", "metadata": {"name": "settings"}}
    assert invariants.namespace_violations([config_map], "elk-unit") == [
        "ConfigMap/settings: metadata.namespace is None, not 'elk-unit'"
    ]


def test_create_namespace_allows_only_its_namespace() -> None:
    namespaces = [
        {"kind": "Namespace", "metadata": {"name": "elk-unit"}},
        {"kind": "ClusterRole", "metadata": {"name": "reader"}},
    ]
    assert invariants.namespace_violations(namespaces, "elk-unit", create_namespace=True) == [
        "ClusterRole/reader: ClusterRole is cluster-scoped; the stack may only use 'elk-unit'"
    ]


def test_create_namespace_without_namespace_object_is_flagged() -> None:
    assert invariants.namespace_violations([], "elk-unit", create_namespace=True) == [
        "createNamespace is set but there are 0 Namespace objects, not 1"
    ]


def test_data_on_mounted_claim_template_passes() -> None:
    es = elasticsearch([{"name": "data", "mountPath": "/usr/share/elasticsearch/data/"}])
    assert invariants.data_volume_violations([es, claim("data-es-0")]) == []


def test_data_on_emptydir_is_flagged() -> None:
    """The claim is there but the data path is an emptyDir: gone with the pod."""
    es = elasticsearch(
        [{"name": "scratch", "mountPath": "/usr/share/elasticsearch/data"}],
        [{"name": "scratch", "emptyDir": {}}],
    )
    violations = invariants.data_volume_violations([es])
    assert "StatefulSet/es: spec.volumeClaimTemplates 'data' is never mounted by any container" in violations
    assert any(
        "'scratch' at /usr/share/elasticsearch/data is emptyDir, not a Persistent" in v for v in violations
    )


def test_claim_mounted_at_wrong_path_is_flagged() -> None:
    es = elasticsearch([{"name": "data", "mountPath": "/data"}])
    assert invariants.data_volume_violations([es]) == [
        "StatefulSet/es: spec.template.spec.containers[0] (elasticsearch): no volumeMount at "
        "/usr/share/elasticsearch/data; its claims are mounted elsewhere: 'data' at /data"
    ]


def test_pvc_volume_at_data_path_passes() -> None:
    mounts = [{"name": "storage", "mountPath": "/usr/share/elasticsearch/data"}]
    es = elasticsearch(mounts, [{"name": "storage", "persistentVolumeClaim": {"claimName": "es-storage"}}])
    es["spec"].pop("volumeClaimTemplates")
    assert invariants.data_volume_violations([es, claim("es-storage")]) == []


def test_unused_pvc_is_flagged() -> None:
    """A claim no pod uses holds nothing, while the data goes elsewhere."""
    es = elasticsearch([{"name": "data", "mountPath": "/usr/share/elasticsearch/data"}])
    assert invariants.data_volume_violations([es, claim("data-es-0"), claim("es-data")]) == [
        "PersistentVolumeClaim/es-data: no pod volume or StatefulSet claim template uses it"
    ]


def test_ordinal_claims_follow_replicas() -> None:
    es = elasticsearch([{"name": "data", "mountPath": "/usr/share/elasticsearch/data"}], replicas=2)
    assert invariants.data_claim_names([es]) == ["data-es-0", "data-es-1"]


def test_claim_left_to_the_controller_is_flagged() -> None:
    """Without an explicit PVC the controller creates one that Pulumi cannot protect."""
    es = elasticsearch([{"name": "data", "mountPath": "/usr/share/elasticsearch/data"}], replicas=2)
    assert invariants.data_protection_violations([es, claim("data-es-0")], [pvc_record(True, True)]) == [
        "PersistentVolumeClaim/data-es-1: no explicit PVC, "
        "so the StatefulSet controller creates it unprotected"
    ]


def test_data_claims_without_records_are_flagged() -> None:
    """No record under an ElasticsearchNode would make the protect check pass vacuously."""
    es = elasticsearch([{"name": "data", "mountPath": "/usr/share/elasticsearch/data"}])
    violations = invariants.data_protection_violations([es, claim("data-es-0")], [])
    assert len(violations) == 1
    assert "Elasticsearch data is unguarded" in violations[0]


@pytest.mark.parametrize(("protect", "retain"), [(None, True), (True, False), (False, None)])
def test_unprotected_record_is_flagged(protect: bool | None, retain: bool | None) -> None:
    assert invariants.data_protection_violations([], [pvc_record(protect, retain)]) != []


def test_heap_at_half_the_limit_passes() -> None:
    assert heap("ES_JAVA_OPTS", "-Xms1g -Xmx1g", "2Gi", ES_IMAGE) == []


def test_heap_equal_to_limit_is_flagged() -> None:
    """The classic: 2g is 2Gi, leaving nothing for off-heap memory."""
    assert heap("ES_JAVA_OPTS", "-Xms2g -Xmx2g", "2Gi", ES_IMAGE) == [
        "Deployment/app: spec.template.spec.containers[0] (jvm): env ES_JAVA_OPTS -Xmx2g is more "
        "than 50% of resources.limits.memory 2Gi; the pod would be OOMKilled"
    ]


def test_decimal_limit_is_smaller_than_it_looks() -> None:
    """1g of heap is 2^30 bytes; half of a 2G limit is 10^9 bytes, so it does not fit."""
    assert heap("ES_JAVA_OPTS", "-Xms1g -Xmx1g", "2G", ES_IMAGE) != []


def test_logstash_may_take_three_quarters() -> None:
    assert heap("LS_JAVA_OPTS", "-Xms1536m -Xmx1536m", "2Gi", LS_IMAGE) == []
    assert heap("LS_JAVA_OPTS", "-Xms1537m -Xmx1537m", "2Gi", LS_IMAGE) != []


def test_last_xmx_wins() -> None:
    """The JVM takes the last -Xmx, so an appended override is what counts."""
    assert heap("ES_JAVA_OPTS", "-Xms512m -Xmx512m -Xms2g -Xmx2g", "2Gi", ES_IMAGE) != []


def test_same_heap_in_other_units_is_equal() -> None:
    assert heap("ES_JAVA_OPTS", "-Xms1024m -Xmx1g", "2Gi", ES_IMAGE) == []


@pytest.mark.parametrize(
    ("options", "limit", "fragment"),
    [
        ("-Xmx1g", "2Gi", "-Xms (unset) is not equal to -Xmx1g"),
        ("-Xms1g", "2Gi", "sets no -Xmx"),
        ("-Xms1g -Xmx1g", None, "resources.limits.memory is missing"),
        ("-Xms1GB -Xmx1GB", "2Gi", "is not a JVM heap size"),
    ],
)
def test_heap_problem_is_named(options: str, limit: str | None, fragment: str) -> None:
    violations = heap("ES_JAVA_OPTS", options, limit, ES_IMAGE)
    assert len(violations) == 1
    assert fragment in violations[0]


def test_elasticsearch_without_heap_option_is_flagged() -> None:
    es = container("elasticsearch", ES_IMAGE)
    assert invariants.heap_violations([workload(containers=[es])]) == [
        "Deployment/app: spec.template.spec.containers[0] (elasticsearch): env ES_JAVA_OPTS is not set, "
        "so the heap is not sized"
    ]
