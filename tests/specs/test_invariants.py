"""Every invariant can fail: the negative control runs each check on hand-written manifests.

The manifests hold the classic bugs (`tests/fixtures/broken/`, `tests/fixtures/wiring/`):
a check that never fails would pass on anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests import invariants
from tests.invariants import CHECKS, WIRING_CHECKS, Manifest, Record, Stack

BROKEN_DIR = Path(__file__).parents[1] / "fixtures" / "broken"
WIRING_DIR = Path(__file__).parents[1] / "fixtures" / "wiring"
BROKEN_NAMESPACE = "elk-qa"


def load_manifests(directory: Path) -> list[Manifest]:
    """Every YAML document of a fixture directory."""
    return [
        document
        for path in sorted(directory.glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


@pytest.fixture(scope="module")
def broken() -> tuple[list[Manifest], list[Record]]:
    """The broken manifests and the Pulumi records of their first port (unprotected PVC)."""
    return load_manifests(BROKEN_DIR), json.loads((BROKEN_DIR / "resources.json").read_text())


@pytest.fixture(scope="module")
def wiring() -> tuple[list[Manifest], list[Record]]:
    """A stack whose objects are each valid, and wired to each other wrongly."""
    return load_manifests(WIRING_DIR), []


BROKEN_EXPECTED: dict[str, list[tuple[str, str]]] = {
    "namespace": [
        ("Service/kibana", "metadata.namespace is 'logging'"),
        ("StorageClass/ssd", "cluster-scoped"),
    ],
    "data_volume": [
        ("StatefulSet/elasticsearch", "volumeClaimTemplates 'elasticsearch-data' is never mounted"),
        ("StatefulSet/elasticsearch", "no volumeMount at /usr/share/elasticsearch/data"),
    ],
    "replacement_cascade": [
        (
            "StatefulSet/elasticsearch",
            "input 'spec' holds the outputs of kubernetes:core/v1:Secret::elasticsearch-certs",
        )
    ],
    "data_protection": [
        ("PersistentVolumeClaim::elasticsearch-data-0", "protect is False"),
        ("PersistentVolumeClaim::elasticsearch-data-0", "retainOnDelete is None"),
    ],
    "heap": [
        ("StatefulSet/elasticsearch", "ES_JAVA_OPTS -Xmx2g is more than 50% of resources.limits.memory 2Gi"),
        ("Deployment/logstash", "LS_JAVA_OPTS -Xms512m is not equal to -Xmx1g"),
    ],
    "resources": [
        ("Deployment/logstash", "resources.requests.cpu is missing"),
        ("Deployment/logstash", "resources.requests.memory is missing"),
        *(
            (workload, f"resources.{side}.ephemeral-storage is missing")
            for workload in ("StatefulSet/elasticsearch", "Deployment/logstash", "Deployment/kibana")
            for side in ("requests", "limits")
        ),
    ],
    "readiness": [("Deployment/kibana", "containers[0] (kibana): readinessProbe is missing")],
    "liveness": [
        ("StatefulSet/elasticsearch", "livenessProbe must check the process's own port"),
        ("Deployment/kibana", "containers[0] (kibana): livenessProbe is missing"),
    ],
    "volume_source": [("Deployment/kibana", "volumes[0] 'kibana-config' has no source")],
    "config_shadowing": [("Deployment/logstash", "configMap 'config' over /usr/share/logstash/config")],
    "checksum": [
        ("StatefulSet/elasticsearch", "annotations['elk-stack/config-checksum'] is missing"),
        ("Deployment/logstash", "annotations['elk-stack/config-checksum'] is missing"),
    ],
    "empty_value": [("NetworkPolicy/kibana", "spec.ingress[0].from[0].podSelector.matchLabels is empty")],
    "secret_env": [("Deployment/kibana", "env ELASTICSEARCH_PASSWORD comes from Secret kibana-credentials")],
    "secret_exposure": [
        ("Deployment/kibana", "env ELASTICSEARCH_PASSWORD comes from a Secret, and the image's entrypoint"),
        ("Deployment/kibana", "$(ELASTICSEARCH_PASSWORD) is expanded into the command line"),
    ],
}


WIRING_EXPECTED: dict[str, list[tuple[str, str]]] = {
    "service_selector": [("Service/kibana", "spec.selector {'app': 'kibana-ui'} matches no pod template")],
    "target_port": [("Service/elasticsearch", "targetPort 'transport' is container port 'transport' (9300)")],
    "stored_key": [
        (
            "Deployment/logstash",
            "volumes[0] (config): ConfigMap 'logstash-config' has no key 'logstash.yaml'",
        ),
        ("Deployment/logstash", "volumes[2] (scratch): no container mounts it"),
        ("Deployment/logstash", "env ELASTICSEARCH_PASSWORD: Secret 'es-credentials' has no key 'passwd'"),
    ],
    "file_path": [
        (
            "StatefulSet/elasticsearch",
            "readinessProbe.exec names /usr/share/elasticsearch/config/certs/ca.crt",
        ),
        (
            "Deployment/kibana",
            "elasticsearch.ssl.certificateAuthorities names /usr/share/kibana/config/certs",
        ),
    ],
    "config_checksum": [("StatefulSet/elasticsearch", "is not the checksum of what the pod reads")],
    "exposure": [
        ("ConfigMap/es-config", "network.host is '127.0.0.1'"),
        ("ConfigMap/kibana-config", "elasticsearch.ssl.verificationMode is 'certificate'"),
        ("ConfigMap/logstash-config", "api.http.host is not set"),
        ("ConfigMap/logstash-config", "ssl_verification_mode is 'none'"),
    ],
}


def test_negative_control_covers_every_check() -> None:
    assert set(BROKEN_EXPECTED) == set(CHECKS) - set(WIRING_CHECKS)
    assert set(WIRING_EXPECTED) == set(WIRING_CHECKS)


@pytest.mark.parametrize("check", CHECKS)
def test_check_flags_its_bug_in_broken_manifests(
    broken: tuple[list[Manifest], list[Record]], wiring: tuple[list[Manifest], list[Record]], check: str
) -> None:
    """Each check fails on the classic bug, naming object and field, and on nothing else."""
    manifests, resources = wiring if check in WIRING_CHECKS else broken
    violations = CHECKS[check](manifests, resources, Stack(BROKEN_NAMESPACE))
    expected = {**BROKEN_EXPECTED, **WIRING_EXPECTED}[check]
    assert len(violations) == len(expected), violations
    for subject, fragment in expected:
        assert any(subject in v and fragment in v for v in violations), (subject, fragment, violations)


def test_all_violations_names_each_check(
    broken: tuple[list[Manifest], list[Record]], wiring: tuple[list[Manifest], list[Record]]
) -> None:
    manifests, resources = broken[0] + wiring[0], broken[1] + wiring[1]
    violations = invariants.all_violations(manifests, resources, BROKEN_NAMESPACE)
    assert {v.split("]")[0].lstrip("[") for v in violations} == set(CHECKS)
