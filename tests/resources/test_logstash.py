"""The manifests `LogstashPipeline` produces, and the default pipeline file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from components.configuration.pipeline import ListeningPort, listening_ports
from tests.conftest import find
from tools.render import PROJECT_DIR, Rendered

Render = Callable[..., Rendered]
DEFAULT_PIPELINE = PROJECT_DIR / "pipelines" / "spring-boot-json.conf"


def statefulset(rendered: Rendered) -> dict[str, Any]:
    return find(rendered.manifests, "StatefulSet", "elk-logstash")


def container(rendered: Rendered) -> dict[str, Any]:
    containers: list[dict[str, Any]] = statefulset(rendered)["spec"]["template"]["spec"]["containers"]
    return containers[0]


def test_default_pipeline_reads_json_lines_and_beats() -> None:
    text = DEFAULT_PIPELINE.read_text()
    assert listening_ports(text) == [ListeningPort("tcp", 5000, "TCP"), ListeningPort("beats", 5044, "TCP")]
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


def test_pipeline_and_settings_do_not_shadow_the_config_directory(rendered_default: Rendered) -> None:
    rendered = rendered_default
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
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] == 10 + 180, (
        "the pre-stop wait, then a drain"
    )
    settings = yaml.safe_load(
        find(rendered.manifests, "ConfigMap", "elk-logstash-config")["data"]["logstash.yml"]
    )
    assert settings["queue.type"] == "persisted"
    assert settings["queue.max_bytes"] == "512mb"
    assert settings["queue.drain"] is True


def test_queue_claims_wait_for_the_record_of_their_sizes(render: Render) -> None:
    """It refuses a smaller queue in the stack file's words before the API server refuses the claim."""
    rendered = render(logstash={"replicas": 2, "queue": {"type": "persisted", "storage": {"size": "3Gi"}}})
    [record] = [r for r in rendered.resources if r["type"].endswith(":ClaimRecord")]
    assert record["inputs"]["claim_sizes"] == {"queue-elk-logstash-0": "3Gi", "queue-elk-logstash-1": "3Gi"}
    assert record["inputs"]["key"] == "elk-stack:logstash: queue.storage.size"
    claims = [
        r for r in rendered.resources if r["type"].endswith("PersistentVolumeClaim") and "queue" in r["name"]
    ]
    assert len(claims) == 2
    for claim in claims:
        assert f"{record['type']}::{record['name']}" in claim["dependsOn"]


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
    assert service["spec"]["ports"] == [
        {"name": "tcp", "port": 5000, "protocol": "TCP", "targetPort": "tcp"},
        {"name": "beats", "port": 5044, "protocol": "TCP", "targetPort": "beats"},
    ]


def test_readiness_follows_the_pipeline_on_the_monitoring_api(render: Render) -> None:
    """`/` answers as soon as the API is up; `/_node/pipelines/main` is 404 without a loaded pipeline."""
    main = container(render())
    assert main["readinessProbe"]["httpGet"] == {"path": "/_node/pipelines/main", "port": "api"}
    assert main["startupProbe"]["httpGet"] == {"path": "/", "port": "api"}
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


def pipeline_file(tmp_path: Path, inputs: str) -> str:
    """A custom pipeline with the given inputs and the shipped output."""
    shipped = DEFAULT_PIPELINE.read_text()
    path = tmp_path / "custom.conf"
    path.write_text(f"input {{ {inputs} }}\n" + shipped[shipped.index("filter {") :])
    return str(path)


def test_udp_and_syslog_inputs_are_exposed_with_their_protocols(render: Render, tmp_path: Path) -> None:
    pipeline = pipeline_file(tmp_path, "udp { port => 5001 } syslog { port => 5514 } tcp { port => 5000 }")
    rendered = render(logstash={"pipeline": pipeline})
    service = find(rendered.manifests, "Service", "elk-logstash")
    expected = [
        {"name": "udp", "port": 5001, "protocol": "UDP", "targetPort": "udp"},
        {"name": "syslog-tcp", "port": 5514, "protocol": "TCP", "targetPort": "syslog-tcp"},
        {"name": "syslog-udp", "port": 5514, "protocol": "UDP", "targetPort": "syslog-udp"},
        {"name": "tcp", "port": 5000, "protocol": "TCP", "targetPort": "tcp"},
    ]
    assert service["spec"]["ports"] == expected
    assert container(rendered)["ports"][1:] == [
        {"name": p["name"], "containerPort": p["port"], "protocol": p["protocol"]} for p in expected
    ]
    policy = find(rendered.manifests, "NetworkPolicy", "elk-logstash")
    assert policy["spec"]["ingress"][0]["ports"] == [
        {"protocol": "TCP", "port": 5000},
        {"protocol": "UDP", "port": 5001},
        {"protocol": "TCP", "port": 5514},
        {"protocol": "UDP", "port": 5514},
    ]


def test_a_pipeline_without_a_listening_input_has_no_service(render: Render, tmp_path: Path) -> None:
    """A Service must have a port; with none, nothing may reach Logstash but the kubelet."""
    pipeline = pipeline_file(tmp_path, 'kafka { topics => ["logs"] bootstrap_servers => "kafka:9092" }')
    rendered = render(logstash={"pipeline": pipeline})
    assert [
        m["metadata"]["name"]
        for m in rendered.manifests
        if m["kind"] == "Service" and "logstash" in m["metadata"]["name"]
    ] == ["elk-logstash-headless"]
    assert rendered.outputs["logstashEndpoints"] == {}
    assert container(rendered)["ports"] == [{"name": "api", "containerPort": 9600}]
    policy = find(rendered.manifests, "NetworkPolicy", "elk-logstash")
    assert "ingress" not in policy["spec"], "no rule: it admits nothing (an empty list would be dropped)"
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]


def test_a_port_from_a_variable_default_is_exposed(render: Render, tmp_path: Path) -> None:
    pipeline = pipeline_file(
        tmp_path, 'tcp { port => "${PORT:5000}" codec => json_lines { target => "doc" } }'
    )
    service = find(render(logstash={"pipeline": pipeline}).manifests, "Service", "elk-logstash")
    assert service["spec"]["ports"] == [{"name": "tcp", "port": 5000, "protocol": "TCP", "targetPort": "tcp"}]


def test_disruption_budget_only_with_several_replicas(render: Render) -> None:
    assert not [m for m in render().manifests if m["kind"] == "PodDisruptionBudget" and "logstash" in str(m)]
    budget = find(render(logstash={"replicas": 3}).manifests, "PodDisruptionBudget", "elk-logstash")
    assert budget["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": statefulset(render())["spec"]["selector"]["matchLabels"]},
    }


def test_a_write_the_logstash_user_may_not_make_is_warned_at_render(render: Render, tmp_path: Path) -> None:
    shipped = DEFAULT_PIPELINE.read_text()
    path = tmp_path / "myapp.conf"
    path.write_text(shipped.replace('data_stream => "true"', 'index => "myapp-%{+YYYY.MM.dd}"'))
    rendered = render(logstash={"pipeline": str(path)})
    (warning,) = rendered.warnings
    assert warning.startswith(f"logstash.pipeline: {path} line ")
    assert "'myapp-%{+YYYY.MM.dd}'" in warning and "(403)" in warning
    allowed = render(logstash={"pipeline": str(path)}, security={"logstashIndices": ["logs-*-*", "myapp-*"]})
    assert allowed.warnings == []


def test_stops_gracefully(render: Render) -> None:
    """It keeps accepting while the Service stops sending, then has time to drain its queue."""
    for queue, grace in (("persisted", 190), ("memory", 70)):
        rendered = render(logstash={"queue": {"type": queue}})
        assert container(rendered)["lifecycle"] == {"preStop": {"exec": {"command": ["sleep", "10"]}}}
        assert statefulset(rendered)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == grace


def test_replicas_prefer_different_hosts(render: Render) -> None:
    pod = statefulset(render(logstash={"replicas": 2}))["spec"]["template"]
    term = {"labelSelector": {"matchLabels": statefulset(render())["spec"]["selector"]["matchLabels"]}}
    preferred = pod["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred == [
        {"weight": 100, "podAffinityTerm": {**term, "topologyKey": "kubernetes.io/hostname"}}
    ]
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in pod["spec"]["affinity"]["podAntiAffinity"]
    assert term["labelSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
