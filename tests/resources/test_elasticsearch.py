"""The manifests `ElasticsearchNode` produces."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from components.specs.elasticsearch import READY_SCRIPT
from tests.conftest import find
from tests.readers import without_login_files
from tools.render import Rendered

Render = Callable[..., Rendered]


def statefulset(rendered: Rendered) -> dict[str, Any]:
    return find(rendered.manifests, "StatefulSet", "elk-elasticsearch")


def container(rendered: Rendered) -> dict[str, Any]:
    containers: list[dict[str, Any]] = statefulset(rendered)["spec"]["template"]["spec"]["containers"]
    return containers[0]


def test_one_node_forms_a_cluster_of_its_own_without_mmap(rendered_default: Rendered) -> None:
    """No single-node discovery: nodes added later must be able to join it (no mmap: no vm.max_map_count)."""
    config_map = find(rendered_default.manifests, "ConfigMap", "elk-elasticsearch-config")
    settings = yaml.safe_load(config_map["data"]["elasticsearch.yml"])
    assert "discovery.type" not in settings
    assert settings["discovery.seed_hosts"] == ["elk-elasticsearch-headless"]
    assert settings["node.store.allow_mmap"] is False
    assert settings["path.data"] == "/usr/share/elasticsearch/data"


def test_settings_file_is_mounted_by_subpath(rendered_default: Rendered) -> None:
    mounts = container(rendered_default)["volumeMounts"]
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
    options = next(e["value"] for e in env if e["name"] == "ES_JAVA_OPTS").split()
    assert options[:2] == ["-Xms1500m", "-Xmx1500m"]


def test_the_gc_log_is_bounded_to_64_mib(rendered_default: Rendered) -> None:
    """Elasticsearch's default GC log keeps 32 files of 64 MiB: 2 GiB of node disk per pod."""
    options = next(e["value"] for e in container(rendered_default)["env"] if e["name"] == "ES_JAVA_OPTS")
    assert "-Xlog:disable" in options.split(), "jvm.options' own GC output cannot be reconfigured otherwise"
    assert options.endswith(
        ":file=/usr/share/elasticsearch/logs/gc.log:utctime,level,pid,tags:filecount=4,filesize=16m"
    )


def test_default_resources_request_cpu_without_a_cpu_limit(render: Render) -> None:
    """A CPU limit throttles Elasticsearch even on an idle host; the default sets none."""
    assert container(render())["resources"] == {
        "requests": {"cpu": "500m", "memory": "2Gi", "ephemeral-storage": "256Mi"},
        "limits": {"memory": "2Gi", "ephemeral-storage": "1Gi"},
    }
    own_limit = render(elasticsearch={"resources": {"limits": {"cpu": "2"}}})
    assert container(own_limit)["resources"]["limits"] == {
        "cpu": "2",
        "memory": "2Gi",
        "ephemeral-storage": "1Gi",
    }
    cluster = render(
        elasticsearch={"nodeSets": [{"name": "all", "roles": ["master", "data"], "replicas": 3}]}
    )
    node_set = find(cluster.manifests, "StatefulSet", "elk-elasticsearch-all")
    assert "cpu" not in node_set["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]


def test_stops_gracefully(render: Render) -> None:
    """As ECK: 50 s of serving while clients learn the pod is going, within a 180 s grace period.

    The preStop hook brackets the restart first (scripts/elasticsearch-pre-stop.sh), over
    HTTPS with the CA when the node serves it.
    """
    node_sets = {"nodeSets": [{"name": "all", "roles": ["master", "data"], "replicas": 3}]}
    pods = [
        statefulset(render())["spec"]["template"]["spec"],
        find(render(elasticsearch=node_sets).manifests, "StatefulSet", "elk-elasticsearch-all")["spec"][
            "template"
        ]["spec"],
    ]
    for pod in pods:
        assert pod["containers"][0]["lifecycle"] == {
            "preStop": {
                "exec": {
                    "command": [
                        "bash",
                        "/opt/elk-stack/env-from-files.sh",
                        "bash",
                        "/opt/elk-stack/elasticsearch-pre-stop.sh",
                        "https://localhost:9200",
                        "50",
                        "/usr/share/elasticsearch/config/certs/ca.crt",
                    ]
                }
            }
        }
        assert pod["terminationGracePeriodSeconds"] == 180


def test_readiness_is_per_node_and_there_is_a_startup_probe(render: Render, tmp_path: Path) -> None:
    """The rendered probe runs the mounted script; against a joined node of a red cluster it passes."""
    rendered = render(elasticsearch={"tls": {"http": False}})
    main = container(rendered)
    command = without_login_files(main["readinessProbe"]["exec"]["command"])
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    assert command[:2] == ["bash", f"{mounts['start']}/{READY_SCRIPT.name}"]
    config_map = find(rendered.manifests, "ConfigMap", "elk-elasticsearch-config")
    assert config_map["data"][READY_SCRIPT.name] == READY_SCRIPT.read_text()
    assert command[2] == "http://localhost:9200"
    assert command[3].startswith(mounts["data"] + "/")
    red = {"status": "red", "initializing_shards": 0, "delayed_unassigned_shards": 0, "unassigned_shards": 5}
    with answering(200, red) as url:
        result = subprocess.run(
            ["bash", str(READY_SCRIPT), url, str(tmp_path / "formed")],
            env={"PATH": os.environ["PATH"], "READY_GATE": str(tmp_path / "gate")},
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 0, result.stdout
    assert main["startupProbe"]["tcpSocket"]["port"] == 9200


def test_probe_trusts_the_ca_over_https(rendered_default: Rendered) -> None:
    command = without_login_files(container(rendered_default)["readinessProbe"]["exec"]["command"])
    assert command[2:] == [
        "https://localhost:9200",
        "/usr/share/elasticsearch/data/.elk-stack-cluster-formed",
        "/usr/share/elasticsearch/config/certs/ca.crt",
    ]


@contextmanager
def answering(status: int, body: dict[str, Any]) -> Iterator[str]:
    """A fake Elasticsearch that gives every request the same answer; yields its URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.end_headers()
            self.wfile.write(json.dumps(body).encode())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # Polled every 50 ms (not 0.5 s), so shutdown() at the end of a test returns at once.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_data_volume_is_always_mounted_from_the_claim_template(rendered_default: Rendered) -> None:
    spec = statefulset(rendered_default)["spec"]
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


def test_services_headless_for_discovery_and_client_on_9200(rendered_default: Rendered) -> None:
    rendered = rendered_default
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


def test_data_claim_does_not_wait_for_binding(rendered_default: Rendered) -> None:
    """A WaitForFirstConsumer claim binds only once its pod exists, which comes after it."""
    claim = find(rendered_default.manifests, "PersistentVolumeClaim", "data-elk-elasticsearch-0")
    assert claim["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"


def test_version_upgrade_leaves_the_immutable_claim_template_alone(render: Render) -> None:
    """A changed claim template replaces the StatefulSet; an upgrade must only roll it."""

    def claim_template(version: str) -> Any:
        return statefulset(render(version=version))["spec"]["volumeClaimTemplates"]

    assert claim_template("9.4.3") == claim_template("9.5.0")
