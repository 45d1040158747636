"""The manifests `ElasticsearchNode` produces."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from tests.conftest import find
from tools.render import Rendered

Render = Callable[..., Rendered]


def statefulset(rendered: Rendered) -> dict[str, Any]:
    return find(rendered.manifests, "StatefulSet", "elk-elasticsearch")


def container(rendered: Rendered) -> dict[str, Any]:
    containers: list[dict[str, Any]] = statefulset(rendered)["spec"]["template"]["spec"]["containers"]
    return containers[0]


def test_settings_are_single_node_without_mmap(render: Render) -> None:
    config_map = find(render().manifests, "ConfigMap", "elk-elasticsearch-config")
    settings = yaml.safe_load(config_map["data"]["elasticsearch.yml"])
    assert settings["discovery.type"] == "single-node"
    assert settings["node.store.allow_mmap"] is False
    assert settings["path.data"] == "/usr/share/elasticsearch/data"


def test_settings_file_is_mounted_by_subpath(render: Render) -> None:
    mounts = container(render())["volumeMounts"]
    config_mount = next(m for m in mounts if m["name"] == "config")
    assert config_mount == {
        "name": "config",
        "mountPath": "/usr/share/elasticsearch/config/elasticsearch.yml",
        "subPath": "elasticsearch.yml",
    }


def test_no_init_containers_and_non_root(render: Render) -> None:
    pod = statefulset(render())["spec"]["template"]["spec"]
    assert "initContainers" not in pod
    assert pod["securityContext"]["runAsUser"] == 1000
    assert pod["securityContext"]["fsGroup"] == 1000
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container(render())["securityContext"]["allowPrivilegeEscalation"] is False


def test_heap_comes_from_config(render: Render) -> None:
    env = container(
        render(elasticsearch={"heap": "1500m", "resources": {"limits": {"cpu": "1", "memory": "3Gi"}}})
    )["env"]
    assert {"name": "ES_JAVA_OPTS", "value": "-Xms1500m -Xmx1500m"} in env


def test_readiness_accepts_yellow_and_there_is_a_startup_probe(render: Render) -> None:
    main = container(render())
    command = " ".join(main["readinessProbe"]["exec"]["command"])
    assert "wait_for_status=yellow" in command
    assert "green" not in command
    assert main["startupProbe"]["tcpSocket"]["port"] == 9200


def test_data_volume_is_always_mounted_from_the_claim_template(render: Render) -> None:
    spec = statefulset(render())["spec"]
    templates = [t["metadata"]["name"] for t in spec["volumeClaimTemplates"]]
    mounts = {m["name"]: m["mountPath"] for m in spec["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert templates == ["data"]
    assert mounts["data"] == "/usr/share/elasticsearch/data"
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}


def test_data_claim_is_explicit_protected_and_named_for_adoption(render: Render) -> None:
    rendered = render(storageClass="hdd", elasticsearch={"storage": {"size": "7Gi"}})
    claim = find(rendered.manifests, "PersistentVolumeClaim", "data-elk-elasticsearch-0")
    assert claim["spec"]["resources"]["requests"]["storage"] == "7Gi"
    assert claim["spec"]["storageClassName"] == "hdd"
    record = next(
        r for r in rendered.resources if r["type"].endswith("PersistentVolumeClaim") and "data" in r["name"]
    )
    assert record["protect"] is True
    assert record["retainOnDelete"] is True
    assert record["parent"] == "elk-stack:index:ElasticsearchNode::elasticsearch"
    template = statefulset(rendered)["spec"]["volumeClaimTemplates"][0]
    assert template["spec"] == claim["spec"]


def test_protect_can_be_turned_off_but_retain_stays(render: Render) -> None:
    rendered = render(elasticsearch={"storage": {"size": "1Gi", "protect": False}})
    record = next(r for r in rendered.resources if r["name"] == "elasticsearch-data-0")
    assert record["protect"] is False
    assert record["retainOnDelete"] is True


def service_routes(rendered: Rendered, name: str) -> list[tuple[str, int, int]]:
    """(port name, port, container port it lands on) for each port of a Service.

    A named targetPort is resolved through the selected pods' container ports, as kube-proxy does.
    """
    service = find(rendered.manifests, "Service", name)["spec"]
    pods = [
        m["spec"]["template"]
        for m in rendered.manifests
        if m["kind"] in ("StatefulSet", "Deployment")
        and service["selector"].items() <= m["spec"]["template"]["metadata"]["labels"].items()
    ]
    assert pods, f"{name} selects no pod"
    routes = []
    for port in service["ports"]:
        target = port.get("targetPort", port["port"])
        landing = {
            container_port["containerPort"]
            for pod in pods
            for container in pod["spec"]["containers"]
            for container_port in container.get("ports", [])
            if target in (container_port.get("name"), container_port["containerPort"])
        }
        assert len(landing) == 1, f"{name}:{port['name']} lands on {landing}"
        routes.append((port["name"], port["port"], landing.pop()))
    return routes


def test_services_headless_for_discovery_and_client_on_9200(render: Render) -> None:
    rendered = render()
    headless = find(rendered.manifests, "Service", "elk-elasticsearch-headless")["spec"]
    client = find(rendered.manifests, "Service", "elk-elasticsearch")["spec"]
    assert headless["clusterIP"] == "None"
    assert service_routes(rendered, "elk-elasticsearch-headless") == [
        ("http", 9200, 9200),
        ("transport", 9300, 9300),
    ]
    assert client["type"] == "ClusterIP"
    assert service_routes(rendered, "elk-elasticsearch") == [("http", 9200, 9200)]
    ports = {p["name"]: p["containerPort"] for p in container(rendered)["ports"]}
    settings = yaml.safe_load(
        find(rendered.manifests, "ConfigMap", "elk-elasticsearch-config")["data"]["elasticsearch.yml"]
    )
    assert (ports["http"], ports["transport"]) == (
        settings.get("http.port", 9200),
        settings.get("transport.port", 9300),
    )
    assert statefulset(rendered)["spec"]["serviceName"] == "elk-elasticsearch-headless"


def test_outputs_endpoint_and_claim_names(render: Render) -> None:
    outputs = render(namespace="elk-qa").outputs
    assert outputs["elasticsearchUrl"] == "https://elk-elasticsearch.elk-qa.svc:9200"
    assert outputs["dataClaimNames"] == ["data-elk-elasticsearch-0"]


def test_image_tag_is_the_stack_version(render: Render) -> None:
    image = container(render(version="8.19.3", elasticsearch={"image": "registry.local/es"}))["image"]
    assert image == "registry.local/es:8.19.3"


def test_data_claim_does_not_wait_for_binding(render: Render) -> None:
    """A WaitForFirstConsumer claim binds only once its pod exists, which comes after it."""
    claim = find(render().manifests, "PersistentVolumeClaim", "data-elk-elasticsearch-0")
    assert claim["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"


def test_version_upgrade_leaves_the_immutable_claim_template_alone(render: Render) -> None:
    """A changed claim template replaces the StatefulSet; an upgrade must only roll it."""

    def claim_template(version: str) -> Any:
        return statefulset(render(version=version))["spec"]["volumeClaimTemplates"]

    assert claim_template("9.4.3") == claim_template("9.5.0")
