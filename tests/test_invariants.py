"""The invariants of issues 2 and 10 hold over every rendered stack, and each one can fail.

The negative control runs every check on hand-written manifests with the classic bugs
(`tests/fixtures/broken/`, `tests/fixtures/wiring/`): a check that never fails would pass
on anything. The wiring checks also catch the issue's seeded mistakes made in a real
render, and re-renders with one generated value changed show which pods roll.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.specs import file_realm
from components.specs.common import config_checksum
from components.specs.credentials import USERNAME_KEY
from tests import invariants
from tests.conftest import STACKS, flat_config
from tests.invariants import CHECKS, WIRING_CHECKS, Manifest, Record, Stack
from tools import render as render_module
from tools.render import COMPUTED_OUTPUTS, PROJECT_DIR, Rendered, run_program, stack_config

BROKEN_DIR = Path(__file__).parent / "fixtures" / "broken"
WIRING_DIR = Path(__file__).parent / "fixtures" / "wiring"
BROKEN_NAMESPACE = "elk-qa"
ES_IMAGE = "docker.elastic.co/elasticsearch/elasticsearch:9.4.3"
LS_IMAGE = "docker.elastic.co/logstash/logstash:9.4.3"


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


def container(name: str = "app", image: str = "example/app:1", **fields: Any) -> Manifest:
    """A container that passes every check unless `fields` says otherwise."""
    return {
        "name": name,
        "image": image,
        "resources": {"requests": {"cpu": "100m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}},
        "readinessProbe": {"tcpSocket": {"port": 8080}},
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


# --- every rendered stack holds every invariant ---------------------------------------

# Stacks rendered from config rather than a stack file: the large benchmark cluster
# (`make bench`), security off, the user's own PKI (`tls.existingSecret`) and plain HTTP.
EXTRA_STACKS: dict[str, dict[str, str]] = {
    "large": stack_config("large", path=PROJECT_DIR / "benchmarks" / "large.yaml"),
    "insecure": flat_config(security={"enabled": False}),
    "own-pki": flat_config(elasticsearch={"tls": {"existingSecret": "company-pki"}}),
    "http": flat_config(elasticsearch={"tls": {"http": False}}),
}
INVARIANT_STACKS = [*STACKS, *EXTRA_STACKS]


def stack_config_of(stack: str) -> dict[str, str]:
    """The flat config of any stack the invariants run on."""
    return EXTRA_STACKS[stack] if stack in EXTRA_STACKS else stack_config(stack)


def stack_context(stack: str) -> Stack:
    """What the checks need of a stack besides its manifests, read from its config."""
    config = stack_config_of(stack)
    tls = json.loads(config.get("elk-stack:elasticsearch", "{}")).get("tls") or {}
    external = frozenset({tls["existingSecret"]}) if tls.get("existingSecret") else frozenset()
    create = json.loads(config.get("elk-stack:createNamespace", "false"))
    return Stack(config["elk-stack:namespace"], create, external)


@pytest.fixture(scope="module")
def invariant_stacks(rendered_stacks: dict[str, Rendered]) -> dict[str, Rendered]:
    """qa and test (rendered once per session) and the extra stacks, rendered once here."""
    extra = {stack: run_program(config, stack=stack) for stack, config in EXTRA_STACKS.items()}
    return {**rendered_stacks, **extra}


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("stack", INVARIANT_STACKS)
def test_rendered_stack_holds(invariant_stacks: dict[str, Rendered], stack: str, check: str) -> None:
    """Each invariant on its own, so a failure names the stack and the check."""
    rendered = invariant_stacks[stack]
    assert CHECKS[check](rendered.manifests, rendered.resources, stack_context(stack)) == []


@pytest.mark.parametrize("stack", STACKS)
def test_rendered_stack_has_what_the_checks_look_at(rendered_stacks: dict[str, Rendered], stack: str) -> None:
    """Guard against vacuous passes: the checks find an ES data claim and pod templates."""
    rendered = rendered_stacks[stack]
    assert invariants.data_claim_names(rendered.manifests) == ["data-elk-elasticsearch-0"]
    names = sorted(
        manifest["metadata"]["name"] for manifest, _, _ in invariants.pod_templates(rendered.manifests)
    )
    assert names == ["elk-elasticsearch", "elk-elasticsearch-setup", "elk-kibana", "elk-logstash"]


def test_created_namespace_is_the_one_cluster_scoped_object(render: Callable[..., Rendered]) -> None:
    """With createNamespace the Namespace is allowed, and only because it was asked for."""
    rendered = render(namespace="elk-own", createNamespace=True)
    assert invariants.all_violations(rendered.manifests, rendered.resources, "elk-own", True) == []
    assert invariants.namespace_violations(rendered.manifests, "elk-own") == [
        "Namespace/elk-own: Namespace is cluster-scoped; the stack may only use 'elk-own'"
    ]


def test_persisted_queue_with_replicas_holds(render: Callable[..., Rendered]) -> None:
    """More replicas mean more claims and pods; the invariants still hold."""
    rendered = render(logstash={"replicas": 2, "queue": {"type": "persisted"}})
    assert invariants.all_violations(rendered.manifests, rendered.resources, "elk-unit") == []


# --- negative control: every check flags its bug in the broken manifests --------------

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
    ],
    "readiness": [("Deployment/kibana", "containers[0] (kibana): readinessProbe is missing")],
    "volume_source": [("Deployment/kibana", "volumes[0] 'kibana-config' has no source")],
    "config_shadowing": [("Deployment/logstash", "configMap 'config' over /usr/share/logstash/config")],
    "checksum": [
        ("StatefulSet/elasticsearch", "annotations['elk-stack/config-checksum'] is missing"),
        ("Deployment/logstash", "annotations['elk-stack/config-checksum'] is missing"),
    ],
    "empty_value": [("NetworkPolicy/kibana", "spec.ingress[0].from[0].podSelector.matchLabels is empty")],
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


# --- namespace ------------------------------------------------------------------------


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


# --- Elasticsearch data volume ----------------------------------------------------------


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


# --- data PVC protection ----------------------------------------------------------------


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


# --- heap -----------------------------------------------------------------------------


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


# --- resources, probes, volume sources --------------------------------------------------


def test_init_container_needs_requests_too() -> None:
    """Init containers are scheduled with the pod; without requests they run unbounded."""
    manifest = workload()
    manifest["spec"]["template"]["spec"]["initContainers"] = [{"name": "setup", "image": "busybox"}]
    assert len(invariants.resource_violations([manifest])) == 3


def test_probe_is_required_of_workloads_only() -> None:
    """A Job's pod is never behind a Service, so it needs no readiness probe."""
    bare = container(readinessProbe=None)
    assert invariants.readiness_violations([workload("Job", containers=[bare])]) == []
    assert len(invariants.readiness_violations([workload("DaemonSet", containers=[bare])])) == 1


def test_projected_volume_has_a_source() -> None:
    projected = {"name": "settings", "projected": {"sources": [{"configMap": {"name": "a"}}]}}
    assert invariants.volume_source_violations([workload(volumes=[projected])]) == []


def test_volume_with_only_a_name_is_flagged() -> None:
    violations = invariants.volume_source_violations([workload(volumes=[{"name": "settings"}])])
    assert violations == [
        "Deployment/app: spec.template.spec.volumes[0] 'settings' has no source such as configMap or secret"
    ]


# --- config directory shadowing ---------------------------------------------------------


def shadowing(mount: Manifest, volume: Manifest) -> list[str]:
    """Shadowing violations of one container with one mount of one volume."""
    app = container(volumeMounts=[{"name": "v", **mount}])
    return invariants.config_shadowing_violations(
        [workload(containers=[app], volumes=[{"name": "v", **volume}])]
    )


def test_subpath_mount_of_one_file_passes() -> None:
    mount = {"mountPath": "/usr/share/kibana/config/kibana.yml", "subPath": "kibana.yml"}
    assert shadowing(mount, {"configMap": {"name": "kibana"}}) == []


@pytest.mark.parametrize(
    "path", ["/usr/share/kibana/config", "/usr/share/kibana/config/", "/usr/share/kibana"]
)
def test_secret_over_config_directory_is_flagged(path: str) -> None:
    """The directory itself, with a trailing slash, or a parent: all hide the image's files."""
    assert len(shadowing({"mountPath": path}, {"secret": {"secretName": "kibana"}})) == 1


def test_writable_volume_over_config_directory_is_not_this_check() -> None:
    """An emptyDir there is a different pattern (copy-in by an init container), not a ConfigMap."""
    assert shadowing({"mountPath": "/usr/share/logstash/config"}, {"emptyDir": {}}) == []


# --- checksum -------------------------------------------------------------------------


def test_checksum_is_needed_only_with_a_config_map() -> None:
    config_volume = [{"name": "settings", "configMap": {"name": "settings"}}]
    assert invariants.checksum_violations([workload()]) == []
    assert len(invariants.checksum_violations([workload(volumes=config_volume)])) == 1
    annotated = workload(volumes=config_volume, annotations={invariants.CHECKSUM_ANNOTATION: "abc"})
    assert invariants.checksum_violations([annotated]) == []


def test_projected_config_map_needs_the_checksum() -> None:
    projected = [{"name": "settings", "projected": {"sources": [{"configMap": {"name": "settings"}}]}}]
    assert len(invariants.checksum_violations([workload(volumes=projected)])) == 1


# --- secrets off command lines ----------------------------------------------------------


def secret_env(name: str) -> Manifest:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": "credentials", "key": "password"}}}


def script(text: str) -> Manifest:
    return {"kind": "ConfigMap", "metadata": {"name": "scripts"}, "data": {"run.sh": text}}


def test_secret_exposure_knows_each_image_entrypoint() -> None:
    """The mapping applies only where the entrypoint runs, and only to its names."""
    check = invariants.secret_exposure_violations
    kibana = "docker.elastic.co/kibana/kibana:9.1.0"
    es = "docker.elastic.co/elasticsearch/elasticsearch:9.1.0"
    ours = container("k", kibana, env=[secret_env("KIBANA_ES_PASSWORD")])
    assert check([workload(containers=[ours])]) == []
    flagged = [
        workload(containers=[container("k", kibana, env=[secret_env("ELASTICSEARCH_PASSWORD")])]),
        workload(containers=[container("k", kibana, env=[secret_env("XPACK_SECURITY_ENCRYPTIONKEY")])]),
        workload(containers=[container("e", es, env=[secret_env("bootstrap.password")])]),
    ]
    assert [len(check([manifest])) for manifest in flagged] == [1, 1, 1]
    assert check([workload(containers=[container("e", es, env=[secret_env("ELASTIC_PASSWORD")])])]) == []
    # A replaced command never runs the entrypoint, so nothing maps the name to a flag.
    own = container("k", kibana, command=["sleep"], env=[secret_env("ELASTICSEARCH_PASSWORD")])
    assert check([workload(containers=[own])]) == []


def test_secret_exposure_finds_secrets_expanded_into_commands_and_scripts() -> None:
    check = invariants.secret_exposure_violations
    probe = {"exec": {"command": ["sh", "-c", "curl -sf localhost -u elastic:$(ELASTIC_PASSWORD)"]}}
    probed = container(env=[secret_env("ELASTIC_PASSWORD")], readinessProbe=probe)
    assert len(check([workload(containers=[probed])])) == 1
    assert len(check([script('curl -sf -u "elastic:$ELASTIC_PASSWORD" "$URL"\n')])) == 1
    assert len(check([script('curl -sf -H "Authorization: Basic $TOKEN" "$URL"\n')])) == 1
    # The project's way: curl reads the user from a config on a file descriptor.
    assert check([script('curl -sf -K <(printf \'user = "elastic:%s"\' "$P") "$URL"\n')]) == []


def test_secret_exposure_finds_repository_credentials_in_a_settings_file() -> None:
    """Issue 12: snapshot credentials are secure settings, read only from the keystore."""
    check = invariants.secret_exposure_violations

    def settings_file(settings: dict[str, Any]) -> Manifest:
        return {
            "kind": "ConfigMap",
            "metadata": {"name": "es-config"},
            "data": {"elasticsearch.yml": yaml.safe_dump(settings)},
        }

    leaked = settings_file(
        {"s3.client.default.access_key": "AKIA", "gcs.client.backup.credentials_file": "{}"}
    )
    assert [v.split(" sets the secure setting ")[1] for v in check([leaked])] == [
        "gcs.client.backup.credentials_file; it belongs in the keystore",
        "s3.client.default.access_key; it belongs in the keystore",
    ]
    # The S3 client's endpoint and path style are ordinary settings.
    assert check([settings_file({"s3.client.default.endpoint": "minio:9000", "path.repo": ["/x"]})]) == []


# --- wiring: the issue's seeded mistakes, made in a real render, are each caught --------


def edit_settings(manifests: list[Manifest], config_map: str, key: str, **changes: Any) -> None:
    """Change settings of a YAML settings file in a rendered ConfigMap (None removes one)."""
    data = find_named(manifests, "ConfigMap", config_map)["data"]
    settings = yaml.safe_load(data[key])
    settings.update(changes)
    data[key] = yaml.safe_dump({k: v for k, v in settings.items() if v is not None})


def find_named(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    """The one manifest of a kind and name."""
    (found,) = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    return found


def pod(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    """The pod template of a workload, to mutate in place."""
    template: Manifest = find_named(manifests, kind, name)["spec"]["template"]
    return template


def ingress_to_https(manifests: list[Manifest]) -> None:
    backend = find_named(manifests, "Ingress", "elk-kibana")["spec"]["rules"][0]["http"]["paths"][0]
    backend["backend"]["service"]["port"] = {"name": "https"}


def budget_selects_nothing(manifests: list[Manifest]) -> None:
    budget = find_named(manifests, "PodDisruptionBudget", "elk-elasticsearch-data")
    budget["spec"]["selector"]["matchLabels"]["elk-stack/node-set"] = "hot"


def es_to_transport(manifests: list[Manifest]) -> None:
    find_named(manifests, "Service", "elk-elasticsearch")["spec"]["ports"][0]["targetPort"] = "transport"


def es_to_port_9300(manifests: list[Manifest]) -> None:
    find_named(manifests, "Service", "elk-elasticsearch")["spec"]["ports"][0]["targetPort"] = 9300


def kibana_selects_nothing(manifests: list[Manifest]) -> None:
    selector = find_named(manifests, "Service", "elk-kibana")["spec"]["selector"]
    selector["app.kubernetes.io/name"] = "kibana-ui"


def headless_selects_nothing(manifests: list[Manifest]) -> None:
    selector = find_named(manifests, "Service", "elk-logstash-headless")["spec"]["selector"]
    selector["app.kubernetes.io/instance"] = "elk-old"


def pipeline_key_missing(manifests: list[Manifest]) -> None:
    volumes = pod(manifests, "StatefulSet", "elk-logstash")["spec"]["volumes"]
    next(v for v in volumes if v["name"] == "pipeline")["configMap"]["items"][0]["key"] = "pipeline.conf"


def password_key_missing(manifests: list[Manifest]) -> None:
    env = pod(manifests, "Deployment", "elk-kibana")["spec"]["containers"][0]["env"]
    next(e for e in env if e["name"] == "KIBANA_ES_PASSWORD")["valueFrom"]["secretKeyRef"]["key"] = "pass"


def tmp_not_mounted(manifests: list[Manifest]) -> None:
    container = pod(manifests, "Deployment", "elk-kibana")["spec"]["containers"][0]
    container["volumeMounts"] = [m for m in container["volumeMounts"] if m["name"] != "tmp"]


def es_certs_elsewhere(manifests: list[Manifest]) -> None:
    """The certificates move to tls/, while the probe's --cacert still names certs/ca.crt."""
    container = pod(manifests, "StatefulSet", "elk-elasticsearch")["spec"]["containers"][0]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "certs")
    mount["mountPath"] = "/usr/share/elasticsearch/config/tls"


def es_pod_certificate_missing(manifests: list[Manifest]) -> None:
    """The Secret lacks pod 0's certificate, which its settings name through POD_NAME."""
    secret = find_named(manifests, "Secret", "elk-elasticsearch-node-certs")
    secret["stringData"].pop("elk-elasticsearch-0.tls.crt")


def kibana_ca_renamed(manifests: list[Manifest]) -> None:
    volumes = pod(manifests, "Deployment", "elk-kibana")["spec"]["volumes"]
    next(v for v in volumes if v["name"] == "elasticsearch-ca")["secret"]["items"][0]["path"] = "ca.pem"


def logstash_ca_env_wrong(manifests: list[Manifest]) -> None:
    env = pod(manifests, "StatefulSet", "elk-logstash")["spec"]["containers"][0]["env"]
    next(e for e in env if e["name"] == "ELASTICSEARCH_CA")["value"] = "/usr/share/logstash/certs/ca.crt"


def es_checksum_over_nothing(manifests: list[Manifest]) -> None:
    annotations = pod(manifests, "StatefulSet", "elk-elasticsearch")["metadata"]["annotations"]
    annotations[invariants.CHECKSUM_ANNOTATION] = config_checksum({})


def logstash_checksum_over_pipeline(manifests: list[Manifest]) -> None:
    data = find_named(manifests, "ConfigMap", "elk-logstash-config")["data"]
    annotations = pod(manifests, "StatefulSet", "elk-logstash")["metadata"]["annotations"]
    annotations[invariants.CHECKSUM_ANNOTATION] = config_checksum({"main.conf": data["main.conf"]})


def kibana_checksum_over_es_too(manifests: list[Manifest]) -> None:
    kibana = find_named(manifests, "ConfigMap", "elk-kibana-config")["data"]
    es = find_named(manifests, "ConfigMap", "elk-elasticsearch-config")["data"]
    annotations = pod(manifests, "Deployment", "elk-kibana")["metadata"]["annotations"]
    annotations[invariants.CHECKSUM_ANNOTATION] = config_checksum({**kibana, **es})


def es_local_only(manifests: list[Manifest]) -> None:
    edit_settings(manifests, "elk-elasticsearch-config", "elasticsearch.yml", **{"network.host": "_local_"})


def kibana_localhost(manifests: list[Manifest]) -> None:
    edit_settings(manifests, "elk-kibana-config", "kibana.yml", **{"server.host": "localhost"})


def logstash_api_default(manifests: list[Manifest]) -> None:
    edit_settings(manifests, "elk-logstash-config", "logstash.yml", **{"api.http.host": None})


def kibana_chain_only(manifests: list[Manifest]) -> None:
    setting = {"elasticsearch.ssl.verificationMode": "certificate"}
    edit_settings(manifests, "elk-kibana-config", "kibana.yml", **setting)


def transport_unverified(manifests: list[Manifest]) -> None:
    setting = {"xpack.security.transport.ssl.verification_mode": "none"}
    edit_settings(manifests, "elk-elasticsearch-config", "elasticsearch.yml", **setting)


def setup_insecure(manifests: list[Manifest]) -> None:
    data = find_named(manifests, "ConfigMap", "elk-elasticsearch-setup-config")["data"]
    (key,) = data
    data[key] = data[key].replace('--cacert "$CA_CERT"', "--insecure")


MUTATIONS: list[tuple[Callable[[list[Manifest]], None], str, str]] = [
    (es_to_transport, "target_port", "targetPort 'transport' is container port 'transport' (9300)"),
    (es_to_port_9300, "target_port", "targetPort 9300 is container port 'transport' (9300)"),
    (kibana_selects_nothing, "service_selector", "Service/elk-kibana: spec.selector"),
    (headless_selects_nothing, "service_selector", "Service/elk-logstash-headless: spec.selector"),
    (pipeline_key_missing, "stored_key", "ConfigMap 'elk-logstash-config' has no key 'pipeline.conf'"),
    (password_key_missing, "stored_key", "Secret 'elk-kibana-credentials' has no key 'pass'"),
    (tmp_not_mounted, "stored_key", "(tmp): no container mounts it"),
    (es_certs_elsewhere, "file_path", "readinessProbe.exec names /usr/share/elasticsearch/config/certs/ca"),
    (es_certs_elsewhere, "file_path", "xpack.security.http.ssl.key names /usr/share/elasticsearch/config"),
    (
        es_pod_certificate_missing,
        "file_path",
        "ssl.certificate names /usr/share/elasticsearch/config/certs/elk-elasticsearch-0.tls.crt",
    ),
    (kibana_ca_renamed, "file_path", "certificateAuthorities names /usr/share/kibana/config/certs/ca.crt"),
    (logstash_ca_env_wrong, "file_path", "env ELASTICSEARCH_CA names /usr/share/logstash/certs/ca.crt"),
    (es_checksum_over_nothing, "config_checksum", "StatefulSet/elk-elasticsearch: spec.template.metadata"),
    (logstash_checksum_over_pipeline, "config_checksum", "StatefulSet/elk-logstash: spec.template.metadata"),
    (kibana_checksum_over_es_too, "config_checksum", "Deployment/elk-kibana: spec.template.metadata"),
    (es_local_only, "exposure", "network.host is '_local_'"),
    (kibana_localhost, "exposure", "server.host is 'localhost'"),
    (logstash_api_default, "exposure", "api.http.host is not set"),
    (
        kibana_chain_only,
        "exposure",
        "elasticsearch.ssl.verificationMode is 'certificate', not one of ['full']",
    ),
    (transport_unverified, "exposure", "transport.ssl.verification_mode is 'none'"),
    (setup_insecure, "exposure", "'options+=(--insecure)' turns TLS verification off"),
]


@pytest.mark.parametrize(
    ("mutation", "check", "fragment"), MUTATIONS, ids=[f"{m.__name__}-{c}" for m, c, _ in MUTATIONS]
)
def test_wiring_check_catches_the_mistake_in_a_real_render(
    invariant_stacks: dict[str, Rendered],
    mutation: Callable[[list[Manifest]], None],
    check: str,
    fragment: str,
) -> None:
    """The qa render holds the check (see above); the same render with one mistake fails it."""
    manifests = copy.deepcopy(invariant_stacks["qa"].manifests)
    mutation(manifests)
    violations = CHECKS[check](manifests, [], stack_context("qa"))
    assert any(fragment in v for v in violations), violations


def test_start_script_key_is_checked_on_a_multi_node_cluster(invariant_stacks: dict[str, Rendered]) -> None:
    """Only multi-node sets mount the start script, by `items`; a renamed key is caught."""
    manifests = copy.deepcopy(invariant_stacks["large"].manifests)
    volumes = pod(manifests, "StatefulSet", "elk-elasticsearch-data")["spec"]["volumes"]
    next(v for v in volumes if v["name"] == "start")["configMap"]["items"][0]["key"] = "start.sh"
    assert invariants.stored_key_violations(manifests) == [
        "StatefulSet/elk-elasticsearch-data: spec.template.spec.volumes[3] (start): "
        "ConfigMap 'elk-elasticsearch-data-config' has no key 'start.sh'"
    ]


def test_ingress_and_disruption_budget_point_at_real_objects(invariant_stacks: dict[str, Rendered]) -> None:
    """An Ingress to a port the Service lacks, a budget over no pod: both silently do nothing."""
    qa = copy.deepcopy(invariant_stacks["qa"].manifests)
    ingress_to_https(qa)
    assert invariants.target_port_violations(qa) == [
        "Ingress/elk-kibana: spec.rules[0] backend 'elk-kibana' has no port 'https'"
    ]
    large = copy.deepcopy(invariant_stacks["large"].manifests)
    budget_selects_nothing(large)
    (violation,) = invariants.service_selector_violations(large)
    assert violation.startswith("PodDisruptionBudget/elk-elasticsearch-data: spec.selector.matchLabels")


def test_projected_sources_keys_are_checked() -> None:
    settings = {"kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"app.yml": ""}}
    source = {"configMap": {"name": "settings", "items": [{"key": "app.yaml", "path": "app.yml"}]}}
    app = container(volumeMounts=[{"name": "v", "mountPath": "/etc/app"}])
    projected = workload(containers=[app], volumes=[{"name": "v", "projected": {"sources": [source]}}])
    assert invariants.stored_key_violations([settings, projected]) == [
        "Deployment/app: spec.template.spec.volumes[0] (v): ConfigMap 'settings' has no key 'app.yaml'"
    ]


def test_own_pki_secret_is_exempt_only_when_named(invariant_stacks: dict[str, Rendered]) -> None:
    """The user's Secret is not in the render: exempt when the stack names it, flagged otherwise."""
    manifests = invariant_stacks["own-pki"].manifests
    assert invariants.stored_key_violations(manifests, frozenset({"company-pki"})) == []
    assert "Secret 'company-pki' is not part of the stack" in "".join(
        invariants.stored_key_violations(manifests)
    )


@pytest.mark.parametrize("value", ["0.0.0.0", "_site_", ["_local_", "_site_"]])
def test_good_bind_addresses_pass(value: Any) -> None:
    config_map = {
        "kind": "ConfigMap",
        "metadata": {"name": "es"},
        "data": {"elasticsearch.yml": yaml.safe_dump({"network.host": value})},
    }
    assert invariants.exposure_violations([config_map]) == []


@pytest.mark.parametrize("value", ["127.0.0.1", "localhost", "_local_", "::1", ["_local_"], "10.0.0.1"])
def test_loopback_or_unknown_bind_addresses_fail(value: Any) -> None:
    config_map = {
        "kind": "ConfigMap",
        "metadata": {"name": "es"},
        "data": {"elasticsearch.yml": yaml.safe_dump({"network": {"host": value}})},
    }
    assert len(invariants.exposure_violations([config_map])) == 1


# --- checksums: changing any generated secret value rolls exactly its readers ------------


# The stacks with security on that differ in who reads which generated value: qa, and
# plain HTTP, where no client mounts the CA. The test, large and own-PKI stacks have qa's
# generated Secrets and readers (own PKI has fewer), so re-rendering each a dozen times
# would only slow the suite. The insecure stack has no Secrets.
ROLL_STACKS = ["qa", "http"]


def generated_values(rendered: Rendered) -> list[tuple[str, str]]:
    """(placeholder kind, resource name) of every value a provider computes in this render."""
    return sorted(
        (kind, record["name"])
        for record in rendered.resources
        for kind in COMPUTED_OUTPUTS.get(record["type"], {}).values()
    )


@functools.cache
def render_changed(stack: str, value: tuple[str, str] | None = None, change: str = "") -> Rendered:
    """A stack rendered with Secret values shown, one generated value (kind, resource) changed.

    The offline render stands in for providers with `_placeholder(kind, name)`; changing
    what it returns for one resource is what a new password or a renewed certificate is.
    `change` names a `CONFIG_CHANGES` entry applied on top of the unit config. Cached, as
    several tests compare against the same renders; callers must not mutate the result.
    """
    config = flat_config(**CONFIG_CHANGES[change]) if change else stack_config_of(stack)
    original = render_module._placeholder

    def placeholder(kind: str, name: str) -> str:
        return original(kind, name) + ("-changed" if (kind, name) == value else "")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(render_module, "_placeholder", placeholder)
        return run_program(config, stack=stack, show_secrets=True)


@pytest.mark.parametrize("stack", ROLL_STACKS)
def test_each_generated_value_rolls_exactly_the_pods_that_read_it(stack: str) -> None:
    """One re-render per generated value (passwords, keys, CA, node certificate).

    The cases come from the render's own records, not from a list: a new generated value
    is covered as soon as it exists.
    """
    before = render_changed(stack)
    values = generated_values(before)
    changed_keys: set[invariants.Source] = set()
    violations = []
    for value in values:
        after = render_changed(stack, value)
        changed_keys |= invariants.changed_sources(before.manifests, after.manifests)
        violations += [f"{value}: {v}" for v in invariants.roll_violations(before.manifests, after.manifests)]
    assert violations == []
    objects = invariants.stored_objects(before.manifests)
    read = {
        source
        for manifest, _, template in invariants.pod_templates(before.manifests)
        for source in invariants.template_reads(manifest, template, objects)[0]
        if source[0] == "Secret" and (source[0], source[1]) in objects
    }
    assert values and read, "nothing to perturb or nothing read: the test would be vacuous"
    # User names are constants, or the config's logstashUser (tested below), not generated;
    # so are the file realm's role assignments and roles (tests/test_security.py).
    not_generated = {USERNAME_KEY, file_realm.USERS_ROLES_FILE, file_realm.ROLES_FILE}
    assert {key for _, _, key in read - changed_keys} <= not_generated


def test_a_kibana_that_does_not_roll_on_a_new_encryption_key_is_caught() -> None:
    """The issue's bug, reproduced on a real pair of renders: Kibana keeps its annotations."""
    before = render_changed("qa")
    after = copy.deepcopy(render_changed("qa", ("password", "credentials-security-key")))
    assert invariants.roll_violations(before.manifests, after.manifests) == []
    stale = pod(after.manifests, "Deployment", "elk-kibana")
    stale["metadata"]["annotations"] = pod(before.manifests, "Deployment", "elk-kibana")["metadata"][
        "annotations"
    ]
    assert invariants.roll_violations(before.manifests, after.manifests) == [
        "Deployment/elk-kibana: spec.template.metadata does not change when "
        "Secret elk-kibana-encryption-keys/xpack.security.encryptionKey changes"
    ]


def test_a_checksum_that_rolls_another_component_is_caught() -> None:
    """Logstash rolling on Kibana's key is as wrong as Kibana not rolling."""
    before = render_changed("qa")
    after = copy.deepcopy(render_changed("qa", ("password", "credentials-security-key")))
    pod(after.manifests, "StatefulSet", "elk-logstash")["metadata"]["annotations"]["elk-stack/x"] = "1"
    assert invariants.roll_violations(before.manifests, after.manifests) == [
        "StatefulSet/elk-logstash: spec.template.metadata.annotations change "
        "although nothing it reads changed"
    ]


CONFIG_CHANGES: dict[str, dict[str, Any]] = {
    "none": {},
    "logstash settings": {"logstash": {"queue": {"type": "persisted", "maxBytes": "1536mb"}}},
    "kibana public URL": {"kibana": {"ingress": {"host": "logs.example.com"}}},
    "logstash user": {"security": {"logstashUser": "shipper"}},
    "elasticsearch heap": {"elasticsearch": {"heap": "768m"}},
}


@pytest.mark.parametrize("change", [c for c in CONFIG_CHANGES if c != "none"])
def test_a_config_change_rolls_exactly_the_pods_that_read_it(change: str) -> None:
    """Config-sourced values (settings files, the Logstash user name) roll their readers only."""
    before = render_changed("unit", change="none")
    after = render_changed("unit", change=change)
    assert invariants.roll_violations(before.manifests, after.manifests) == []
