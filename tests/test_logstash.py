"""The manifests `LogstashPipeline` produces, and the default pipeline file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from components.pipeline import listening_ports
from tests.conftest import find
from tools.render import Rendered

Render = Callable[..., Rendered]
DEFAULT_PIPELINE = Path(__file__).resolve().parent.parent / "pipelines" / "spring-boot-json.conf"


def statefulset(rendered: Rendered) -> dict[str, Any]:
    return find(rendered.manifests, "StatefulSet", "elk-logstash")


def container(rendered: Rendered) -> dict[str, Any]:
    containers: list[dict[str, Any]] = statefulset(rendered)["spec"]["template"]["spec"]["containers"]
    return containers[0]


def test_default_pipeline_reads_json_lines_and_beats() -> None:
    text = DEFAULT_PIPELINE.read_text()
    assert listening_ports(text) == {"tcp": 5000, "beats": 5044}
    assert "codec => json_lines" in text
    assert 'remove_field => ["@version"]' in text


def test_default_pipeline_writes_to_elasticsearch_from_the_environment() -> None:
    text = DEFAULT_PIPELINE.read_text()
    output = text[text.index("output {") :]
    assert "elasticsearch {" in output
    assert 'hosts => ["${ELASTICSEARCH_HOSTS}"]' in output
    assert "stdout" not in output
    assert "http://" not in text


def test_hosts_variable_comes_from_the_elasticsearch_component(render: Render) -> None:
    rendered = render(namespace="elk-a")
    env = {e["name"]: e.get("value") for e in container(rendered)["env"]}
    assert env["ELASTICSEARCH_HOSTS"] == rendered.outputs["elasticsearchUrl"]
    assert env["LS_JAVA_OPTS"] == "-Xms512m -Xmx512m"


def test_pipeline_and_settings_do_not_shadow_the_config_directory(render: Render) -> None:
    rendered = render()
    mounts = {m["mountPath"]: m for m in container(rendered)["volumeMounts"]}
    assert mounts["/usr/share/logstash/config/logstash.yml"]["subPath"] == "logstash.yml"
    assert "/usr/share/logstash/config" not in mounts
    assert mounts["/usr/share/logstash/pipeline"]["name"] == "pipeline"
    config_map = find(rendered.manifests, "ConfigMap", "elk-logstash-config")
    assert config_map["data"]["main.conf"] == DEFAULT_PIPELINE.read_text()


def test_persisted_queue_gets_a_claim_per_replica_and_time_to_drain(render: Render) -> None:
    rendered = render(logstash={"replicas": 2, "queue": {"type": "persisted", "maxBytes": "512mb"}})
    claims = sorted(m["metadata"]["name"] for m in rendered.manifests if m["kind"] == "PersistentVolumeClaim")
    assert claims == ["data-elk-elasticsearch-0", "queue-elk-logstash-0", "queue-elk-logstash-1"]
    spec = statefulset(rendered)["spec"]
    assert [t["metadata"]["name"] for t in spec["volumeClaimTemplates"]] == ["queue"]
    assert {"name": "queue", "mountPath": "/usr/share/logstash/data"} in container(rendered)["volumeMounts"]
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] == 180
    settings = yaml.safe_load(
        find(rendered.manifests, "ConfigMap", "elk-logstash-config")["data"]["logstash.yml"]
    )
    assert settings["queue.type"] == "persisted"
    assert settings["queue.max_bytes"] == "512mb"
    assert settings["queue.drain"] is True


def test_memory_queue_has_no_claims(render: Render) -> None:
    rendered = render(logstash={"queue": {"type": "memory"}})
    spec = statefulset(rendered)["spec"]
    assert "volumeClaimTemplates" not in spec
    assert not any(m["metadata"]["name"].startswith("queue-") for m in rendered.manifests)
    settings = yaml.safe_load(
        find(rendered.manifests, "ConfigMap", "elk-logstash-config")["data"]["logstash.yml"]
    )
    assert settings["queue.type"] == "memory"


def test_service_exposes_the_pipeline_ports(render: Render) -> None:
    service = find(
        render(logstash={"service": {"type": "LoadBalancer"}}).manifests, "Service", "elk-logstash"
    )
    assert service["spec"]["type"] == "LoadBalancer"
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {"tcp": 5000, "beats": 5044}


def test_readiness_on_the_monitoring_api(render: Render) -> None:
    main = container(render())
    assert main["readinessProbe"]["httpGet"] == {"path": "/", "port": "api"}
    assert {"name": "api", "containerPort": 9600} in main["ports"]
    settings = yaml.safe_load(
        find(render().manifests, "ConfigMap", "elk-logstash-config")["data"]["logstash.yml"]
    )
    assert settings["api.http.host"] == "0.0.0.0"


def test_outputs_application_endpoints(render: Render) -> None:
    assert render(namespace="elk-b").outputs["logstashEndpoints"] == {
        "tcp": "elk-logstash.elk-b.svc:5000",
        "beats": "elk-logstash.elk-b.svc:5044",
    }


def test_listening_ports_ignores_comments_outputs_and_numbers_duplicates() -> None:
    text = """
    # tcp { port => 1 }
    input {
      tcp { port => 5000 codec => json_lines }
      tcp { port => "6000" }
      http { }
    }
    output { tcp { host => "x" port => 7000 } }
    """
    assert listening_ports(text) == {"tcp": 5000, "tcp-2": 6000}


def test_listening_ports_without_input_block() -> None:
    assert listening_ports("output { stdout {} }") == {}


def test_port_names_fit_kubernetes_15_character_limit() -> None:
    plugin = "elastic_serverless_forwarder"
    text = f"input {{ {plugin} {{ port => 8080 }} {plugin} {{ port => 8081 }} }}"
    assert listening_ports(text) == {"elastic-serverl": 8080, "elastic-serve-2": 8081}


def test_disruption_budget_only_with_several_replicas(render: Render) -> None:
    assert not [m for m in render().manifests if m["kind"] == "PodDisruptionBudget" and "logstash" in str(m)]
    budget = find(render(logstash={"replicas": 3}).manifests, "PodDisruptionBudget", "elk-logstash")
    assert budget["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": statefulset(render())["spec"]["selector"]["matchLabels"]},
    }
