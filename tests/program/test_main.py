"""`__main__.py` itself, run under mocks for both stack files and for bad config."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pulumi.log
import pytest

from components.resources.engine_logging import KEEP_VARIABLE, SDK_DEBUG
from tests.conftest import STACKS, flat_config
from tools.render import Rendered, run_program

Render = Callable[..., Rendered]


@pytest.mark.parametrize("stack", STACKS)
def test_stack_exports_the_endpoints(rendered_stacks: dict[str, Rendered], stack: str) -> None:
    outputs = rendered_stacks[stack].outputs
    namespace = {"qa": "elk-qa", "test": "elk-test"}[stack]
    assert outputs["elasticsearchUrl"] == f"https://elk-elasticsearch.{namespace}.svc:9200"
    assert outputs["logstashEndpoints"]["tcp"] == f"elk-logstash.{namespace}.svc:5000"
    assert outputs["dataClaimNames"] == ["data-elk-elasticsearch-0"]
    assert outputs["kibanaUrl"].startswith(("http://", "https://"))


def test_qa_kibana_url_is_its_ingress(rendered_stacks: dict[str, Rendered]) -> None:
    assert rendered_stacks["qa"].outputs["kibanaUrl"] == "https://kibana.qa.example.com"


@pytest.mark.parametrize("stack", STACKS)
def test_components_are_the_top_level_resources(rendered_stacks: dict[str, Rendered], stack: str) -> None:
    top = sorted(
        r["type"] for r in rendered_stacks[stack].resources if r["parent"].startswith("pulumi:pulumi:Stack")
    )
    assert top == [
        "elk-stack:index:ElasticsearchCluster",
        "elk-stack:index:ElasticsearchSetup",
        "elk-stack:index:KibanaUi",
        "elk-stack:index:LogstashPipeline",
        "elk-stack:index:StackCredentials",
        "elk-stack:index:StackNetworkPolicies",
    ]


def test_invalid_config_raises_one_run_error_naming_every_problem() -> None:
    """That nothing is created is `test_invalid_config_registers_no_resource`'s job."""
    config = flat_config(namespace="Bad_NS", elasticsearch={"heap": "8g"})
    with pytest.raises(pulumi.RunError) as error:
        run_program(config, stack="unit")
    message = str(error.value)
    assert message.startswith("invalid elk-stack config (2 problems):")
    assert "  - elasticsearch.heap: 8g is more than 50%" in message
    assert "  - namespace: 'Bad_NS' is not a DNS-1123 label" in message


def test_invalid_config_registers_no_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    """The program validates before it builds anything, so not even a component is registered."""
    import tools.render as render_module

    seen: list[str] = []
    original = render_module._RecordingMonitor.RegisterResource

    def spy(self: render_module._RecordingMonitor, request: object) -> object:
        seen.append(getattr(request, "type", ""))
        return original(self, request)

    monkeypatch.setattr(render_module._RecordingMonitor, "RegisterResource", spy)
    with pytest.raises(pulumi.RunError):
        run_program(flat_config(version="7.17.0"), stack="unit")
    assert [t for t in seen if t != "pulumi:pulumi:Stack"] == []
    run_program(flat_config(), stack="unit")
    assert len([t for t in seen if t.startswith("kubernetes:")]) > 5, (
        "the spy must see a valid run's resources"
    )


def test_create_namespace_adds_the_namespace_first(render: Render) -> None:
    rendered = render(namespace="elk-new", createNamespace=True)
    namespaces = [m for m in rendered.manifests if m["kind"] == "Namespace"]
    assert [n["metadata"]["name"] for n in namespaces] == ["elk-new"]
    statefulset = next(r for r in rendered.resources if r["name"] == "elasticsearch" and r["custom"])
    assert statefulset["parent"] == "elk-stack:index:ElasticsearchNode::elasticsearch"


def test_the_created_namespace_outlives_destroy(render: Render) -> None:
    """Deleting a namespace deletes its claims, so `pulumi destroy` must leave it like them."""
    rendered = render(namespace="elk-new", createNamespace=True)
    [record] = [r for r in rendered.resources if r["type"] == "kubernetes:core/v1:Namespace"]
    assert record["retainOnDelete"] is True


def test_every_retained_object_is_applied_with_force(render: Render) -> None:
    """The next `up` adopts what a destroy left; the old deployment's field manager must not block it."""
    rendered = render(createNamespace=True)
    retained = {r["type"].rsplit(":", 1)[-1] for r in rendered.resources if r["retainOnDelete"]}
    assert retained == {"Namespace", "PersistentVolumeClaim"}
    objects = [m for m in rendered.manifests if m["kind"] in retained]
    assert len(objects) == 3
    for manifest in objects:
        assert manifest["metadata"]["annotations"]["pulumi.com/patchForce"] == "true", manifest["kind"]


def test_no_namespace_object_by_default(render: Render) -> None:
    assert not [m for m in render().manifests if m["kind"] == "Namespace"]


def test_image_pull_secrets_reach_every_pod(render: Render) -> None:
    rendered = render(imagePullSecrets=["regcred"])
    workloads = [m for m in rendered.manifests if m["kind"] in ("StatefulSet", "Deployment")]
    assert len(workloads) == 3
    for workload in workloads:
        assert workload["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "regcred"}]


def test_every_container_pulls_by_the_configured_policy_always_by_default(render: Render) -> None:
    for policy, config in (("Always", {}), ("IfNotPresent", {"imagePullPolicy": "IfNotPresent"})):
        rendered = render(**config)
        pods = [
            m["spec"]["template"]["spec"]
            for m in rendered.manifests
            if m["kind"] in ("StatefulSet", "Deployment", "Job")
        ]
        assert len(pods) == 6, "Elasticsearch, Logstash, Kibana, the setup and topology Jobs"
        pulls = {
            c["imagePullPolicy"] for pod in pods for c in pod["containers"] + pod.get("initContainers", [])
        }
        assert pulls == {policy}


RECOMMENDED_LABELS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/version",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
}


def test_every_object_and_pod_carries_the_recommended_labels(render: Render) -> None:
    manifests = render(createNamespace=True, kibana={"ingress": {"host": "k.example.com"}}).manifests
    assert {m["kind"] for m in manifests} >= {"Namespace", "Ingress", "PersistentVolumeClaim", "ConfigMap"}
    for manifest in manifests:
        assert manifest["metadata"]["labels"].keys() >= RECOMMENDED_LABELS, manifest["metadata"]["name"]
        template = manifest.get("spec", {}).get("template")
        if template:
            assert template["metadata"]["labels"].keys() >= RECOMMENDED_LABELS


# --- resource options that protect data and availability ------------------------------

STATEFULSET = "kubernetes:apps/v1:StatefulSet"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"
NAMESPACE = f"{NAMESPACE_TYPE}::namespace"


def records(rendered: Rendered, resource_type: str) -> dict[str, dict[str, Any]]:
    """resources.json records of one type, by logical name."""
    return {r["name"]: r for r in rendered.resources if r["type"] == resource_type}


@pytest.mark.parametrize("stack", STACKS)
def test_every_statefulset_ignores_its_immutable_claim_templates(
    rendered_stacks: dict[str, Rendered], stack: str
) -> None:
    """A changed claim template would replace the StatefulSet: every pod down at once."""
    statefulsets = records(rendered_stacks[stack], STATEFULSET)
    assert sorted(statefulsets) == ["elasticsearch", "logstash"]
    for name, record in statefulsets.items():
        assert record["ignoreChanges"] == ["spec.volumeClaimTemplates"], name


def test_every_claim_is_protected_and_outlives_destroy(rendered_stacks: dict[str, Rendered]) -> None:
    """Elasticsearch's data and Logstash's persisted queue alike."""
    claims = records(rendered_stacks["qa"], PVC)
    assert sorted(claims) == ["elasticsearch-data-0", "logstash-queue-0"]
    for name, record in claims.items():
        assert (record["protect"], record["retainOnDelete"]) == (True, True), name


def test_every_object_waits_for_the_namespace_it_lives_in(render: Render) -> None:
    rendered = render(createNamespace=True, kibana={"ingress": {"host": "kibana.example.com"}})
    namespaced = [
        r for r in rendered.resources if r["type"].startswith("kubernetes:") and r["type"] != NAMESPACE_TYPE
    ]
    assert len(namespaced) > 25
    assert {r["type"].rsplit(":", 1)[1] for r in namespaced} >= {"StatefulSet", "Secret", "Ingress", "Job"}
    for record in namespaced:
        assert NAMESPACE in record["dependsOn"], f"{record['type']}::{record['name']}"


def test_only_the_job_and_kibana_are_deleted_before_replacement(
    rendered_stacks: dict[str, Rendered],
) -> None:
    """A replacement Job created first would collide with the old one's name; Kibana's old
    version must be gone before the new one starts, so two versions never run at once."""
    for rendered in rendered_stacks.values():
        deleted_first = [(r["type"], r["name"]) for r in rendered.resources if r["deleteBeforeReplace"]]
        assert deleted_first == [
            ("kubernetes:apps/v1:Deployment", "kibana"),
            ("kubernetes:batch/v1:Job", "elasticsearch-topology-leave"),
            ("kubernetes:batch/v1:Job", "elasticsearch-topology-settle"),
            ("kubernetes:batch/v1:Job", "setup"),
        ]


def test_only_a_new_kibana_image_forces_a_replacement(rendered_stacks: dict[str, Rendered]) -> None:
    """A replaced claim loses its data and a replaced StatefulSet stops every pod: changes patch.

    The setup Job is replaced too, by the provider, because its template is immutable.
    Kibana's Deployment is replaced on a new image, on purpose: two versions never run at once.
    """
    for rendered in rendered_stacks.values():
        forced = [
            (r["type"], r["name"], r["replaceOnChanges"]) for r in rendered.resources if r["replaceOnChanges"]
        ]
        assert forced == [
            ("kubernetes:apps/v1:Deployment", "kibana", ["spec.template.spec.containers[*].image"])
        ]


def test_resources_json_records_every_option_the_program_can_set(tmp_path: Path) -> None:
    """Options this program does not set yet still reach resources.json once it does."""
    (tmp_path / "__main__.py").write_text(
        textwrap.dedent(
            """
            import pulumi
            from pulumi_kubernetes.core.v1 import ConfigMap

            first = ConfigMap("first", metadata={"name": "first"})
            ConfigMap(
                "second",
                metadata={"name": "second"},
                opts=pulumi.ResourceOptions(
                    depends_on=[first],
                    delete_before_replace=False,
                    custom_timeouts=pulumi.CustomTimeouts(create="5m", delete="1m"),
                    ignore_changes=["data"],
                    replace_on_changes=["metadata.labels"],
                    additional_secret_outputs=["binaryData"],
                    deleted_with=first,
                    protect=True,
                    retain_on_delete=True,
                ),
            )
            """
        )
    )
    rendered = run_program({}, stack="unit", project_dir=tmp_path)
    first, second = (records(rendered, "kubernetes:core/v1:ConfigMap")[n] for n in ("first", "second"))
    assert {key: second[key] for key in OPTIONS} == {
        "protect": True,
        "retainOnDelete": True,
        "deleteBeforeReplace": False,
        "customTimeouts": {"create": "5m", "delete": "1m"},
        "ignoreChanges": ["data"],
        "replaceOnChanges": ["metadata.labels"],
        "additionalSecretOutputs": ["binaryData"],
        "dependsOn": ["kubernetes:core/v1:ConfigMap::first"],
        "deletedWith": "kubernetes:core/v1:ConfigMap::first",
    }
    assert {key: first[key] for key in OPTIONS} == {
        "protect": None,
        "retainOnDelete": None,
        "deleteBeforeReplace": None,
        "customTimeouts": None,
        "ignoreChanges": [],
        "replaceOnChanges": [],
        "additionalSecretOutputs": [],
        "dependsOn": [],
        "deletedWith": None,
    }


OPTIONS = [
    "protect",
    "retainOnDelete",
    "deleteBeforeReplace",
    "customTimeouts",
    "ignoreChanges",
    "replaceOnChanges",
    "additionalSecretOutputs",
    "dependsOn",
    "deletedWith",
]


# --- rollouts in Elastic's order, with timeouts that scale -----------------------------

WORKLOAD_TYPES = ("kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:Deployment")
LARGE_CLUSTER = {
    "nodeSets": [
        {"name": "master", "replicas": 3, "roles": ["master"]},
        {"name": "data", "replicas": 20, "roles": ["data", "ingest"]},
    ]
}


def workload_records(rendered: Rendered) -> dict[str, dict[str, Any]]:
    """The resources.json records of every StatefulSet and Deployment, by Pulumi name."""
    return {r["name"]: r for r in rendered.resources if r["type"] in WORKLOAD_TYPES}


def test_rollout_timeouts_scale_with_the_pod_count(render: Render) -> None:
    """Pods times a per-pod budget (Elasticsearch 10 min, Logstash 10, Kibana 6), never under 10 minutes."""
    rendered = render(elasticsearch=LARGE_CLUSTER, kibana={"replicas": 3}, logstash={"replicas": 2})
    timeouts = {name: r["customTimeouts"] for name, r in workload_records(rendered).items()}
    assert timeouts == {
        "elasticsearch-master": {"create": "30m", "update": "30m"},
        "elasticsearch-data": {"create": "200m", "update": "200m"},
        "logstash": {"create": "20m", "update": "20m"},
        "kibana": {"create": "18m", "update": "18m"},
    }


def test_a_pod_ready_timeout_replaces_the_budgets_and_the_floor(render: Render) -> None:
    """`podReadyTimeout` times the pod count, below the provider's 10 minutes when asked."""
    rendered = render(
        podReadyTimeout="45s", elasticsearch=LARGE_CLUSTER, kibana={"replicas": 3}, logstash={"replicas": 2}
    )
    timeouts = {name: r["customTimeouts"] for name, r in workload_records(rendered).items()}
    assert timeouts == {
        "elasticsearch-master": {"create": "135s", "update": "135s"},
        "elasticsearch-data": {"create": "900s", "update": "900s"},
        "logstash": {"create": "90s", "update": "90s"},
        "kibana": {"create": "135s", "update": "135s"},
    }


@pytest.mark.parametrize("stack", STACKS)
def test_no_workload_waits_less_than_the_provider_default(
    rendered_stacks: dict[str, Rendered], stack: str
) -> None:
    """One pod still gets pulumi-kubernetes' own 10 minutes, now stated rather than implied."""
    records = workload_records(rendered_stacks[stack])
    assert len(records) == 3
    for name, record in records.items():
        assert record["customTimeouts"] == {"create": "10m", "update": "10m"}, name


def test_kibana_and_logstash_follow_every_elasticsearch_node_set(render: Render) -> None:
    """On a version change they restart only once every node set has rolled and is Ready."""
    records = workload_records(render(elasticsearch=LARGE_CLUSTER))
    node_sets = {f"{WORKLOAD_TYPES[0]}::elasticsearch-master", f"{WORKLOAD_TYPES[0]}::elasticsearch-data"}
    for follower in ("kibana", "logstash"):
        assert node_sets <= set(records[follower]["dependsOn"]), follower


CLIENT_SERVICE = "kubernetes:core/v1:Service::elasticsearch-http"


def direct_dependencies(record: dict[str, Any]) -> set[str]:
    """What a resource waits for itself: `depends_on` and the resources its inputs came from."""
    return set(record["dependsOn"]) | {
        key for keys in record["propertyDependencies"].values() for key in keys
    }


def test_the_clients_configuration_does_not_wait_for_the_client_service(render: Render) -> None:
    """The URL is built from names the program gives: Kibana's and Logstash's files go out at once."""
    config_maps = records(render(), "kubernetes:core/v1:ConfigMap")
    assert {"kibana-config", "logstash-config"} <= set(config_maps)
    for name, record in config_maps.items():
        assert CLIENT_SERVICE not in direct_dependencies(record), name


def test_kibana_and_logstash_wait_for_the_client_service_they_call(render: Render) -> None:
    """Their URL is a plain value, so the order is written as `depends_on`."""
    rendered = render()
    kibana = records(rendered, "kubernetes:apps/v1:Deployment")["kibana"]
    logstash = records(rendered, "kubernetes:apps/v1:StatefulSet")["logstash"]
    for name, record in (("kibana", kibana), ("logstash", logstash)):
        assert CLIENT_SERVICE in record["dependsOn"], name


def test_the_jobs_that_call_the_cluster_wait_for_its_client_service(render: Render) -> None:
    """Without an output to carry the order, each Job that calls the Service names it in `depends_on`."""
    repository = {"type": "s3", "bucket": "elk-backups", "credentialsSecret": "s3-keys"}
    jobs = records(render(elasticsearch={"snapshots": {"repository": repository}}), "kubernetes:batch/v1:Job")
    callers = [
        name for name in jobs if name.startswith(("elasticsearch-topology-", "elasticsearch-snapshot"))
    ]
    assert len(callers) == 3, sorted(jobs)
    for name in callers:
        assert CLIENT_SERVICE in jobs[name]["dependsOn"], name


def test_the_setup_job_waits_for_the_node_sets_and_the_client_service_not_the_settle_job(
    render: Render,
) -> None:
    """Setup writes users, roles and templates; `settle` clears voting exclusions: neither needs
    the other, so a first deploy does not run them one after the other."""
    setup = records(render(elasticsearch=LARGE_CLUSTER), "kubernetes:batch/v1:Job")["setup"]
    node_sets = {f"{WORKLOAD_TYPES[0]}::elasticsearch-master", f"{WORKLOAD_TYPES[0]}::elasticsearch-data"}
    assert {*node_sets, CLIENT_SERVICE} <= set(setup["dependsOn"])
    waited = direct_dependencies(setup)
    assert not [d for d in waited if "topology" in d or d.startswith("elk-stack:index:ElasticsearchCluster")]


def test_kibana_is_replaced_not_rolled_on_a_new_image(render: Render) -> None:
    """Two Kibana versions never run at once: a new image deletes the old Deployment first."""
    rendered = render(kibana={"replicas": 2})
    record = workload_records(rendered)["kibana"]
    assert record["replaceOnChanges"] == ["spec.template.spec.containers[*].image"]
    assert record["deleteBeforeReplace"] is True
    deployment = next(m for m in rendered.manifests if m["kind"] == "Deployment")
    # Anything else (settings, resources) rolls in place, so 2 replicas mean no downtime.
    assert deployment["spec"]["strategy"] == {"type": "RollingUpdate"}
    assert [c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]] == [
        f"docker.elastic.co/kibana/kibana:{deployment['metadata']['labels']['app.kubernetes.io/version']}"
    ]


def test_capacity_shortfall_is_warned_in_render(render: Render) -> None:
    rendered = render(elasticsearch={"capacity": {"eventsPerDay": 5_000_000, "avgEventBytes": 1000}})
    assert [w.split(":")[0] for w in rendered.warnings] == ["elasticsearch.storage.size"]
    assert render().warnings == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_object_is_applied_with_force(rendered_stacks: dict[str, Rendered], stack: str) -> None:
    """A re-run takes over the fields a killed run's field manager still holds."""
    for manifest in rendered_stacks[stack].manifests:
        annotations = manifest["metadata"].get("annotations", {})
        assert annotations.get("pulumi.com/patchForce") == "true", manifest["metadata"]["name"]


def test_the_program_drops_the_sdks_debug_messages(render: Render, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each would be a blocking call to the engine (components/resources/engine_logging.py)."""
    monkeypatch.setattr(pulumi.log, "debug", SDK_DEBUG)
    monkeypatch.delenv(KEEP_VARIABLE, raising=False)
    render()
    assert pulumi.log.debug is not SDK_DEBUG
