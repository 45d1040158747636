"""The manifests `KibanaUi` produces."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from components.specs.kibana import KEY_VARIABLES
from tests.conftest import find
from tests.readers import credential_files
from tools.render import Rendered

Render = Callable[..., Rendered]
INGRESS = {"host": "kibana.qa.example.com", "className": "nginx", "tlsSecretName": "kibana-tls"}


def deployment(rendered: Rendered) -> dict[str, Any]:
    return find(rendered.manifests, "Deployment", "elk-kibana")


def settings(rendered: Rendered) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(
        find(rendered.manifests, "ConfigMap", "elk-kibana-config")["data"]["kibana.yml"]
    )
    return data


def test_settings_point_at_the_elasticsearch_output(render: Render) -> None:
    rendered = render(namespace="elk-k")
    assert settings(rendered)["elasticsearch.hosts"] == [rendered.outputs["elasticsearchUrl"]]
    assert "server.publicBaseUrl" not in settings(rendered)


def test_config_volume_names_its_configmap_and_mounts_by_subpath(rendered_default: Rendered) -> None:
    pod = deployment(rendered_default)["spec"]["template"]["spec"]
    assert {"name": "config", "configMap": {"name": "elk-kibana-config"}} in pod["volumes"]
    assert {
        "name": "config",
        "mountPath": "/usr/share/kibana/config/kibana.yml",
        "subPath": "kibana.yml",
    } in (pod["containers"][0]["volumeMounts"])
    assert all(set(volume) - {"name"} for volume in pod["volumes"]), "every volume has a source"


def test_readiness_on_the_status_api(rendered_default: Rendered) -> None:
    probe = deployment(rendered_default)["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert probe["httpGet"] == {"path": "/api/status", "port": "https", "scheme": "HTTPS"}


def test_service_type_from_config(render: Render) -> None:
    service = find(render(kibana={"service": {"type": "NodePort"}}).manifests, "Service", "elk-kibana")
    assert service["spec"]["type"] == "NodePort"


def test_service_lands_on_the_port_kibana_listens_on(rendered_default: Rendered) -> None:
    rendered = rendered_default
    service = find(rendered.manifests, "Service", "elk-kibana")["spec"]
    template = deployment(rendered)["spec"]["template"]
    assert service["selector"].items() <= template["metadata"]["labels"].items()
    container_ports = {p["name"]: p["containerPort"] for p in template["spec"]["containers"][0]["ports"]}
    [port] = service["ports"]
    target = port.get("targetPort", port["port"])
    landing = container_ports[target] if isinstance(target, str) else target
    assert landing in container_ports.values()
    assert (port["name"], port["port"], landing) == ("https", 5601, 5601)
    assert port["appProtocol"] == "https"
    assert settings(rendered).get("server.port", 5601) == 5601


def test_no_ingress_by_default_and_url_is_the_service(render: Render) -> None:
    rendered = render(namespace="elk-k")
    assert not [m for m in rendered.manifests if m["kind"] == "Ingress"]
    assert rendered.outputs["kibanaUrl"] == "https://elk-kibana.elk-k.svc:5601"


def test_ingress_with_class_host_tls_and_public_url(render: Render) -> None:
    rendered = render(kibana={"ingress": INGRESS})
    ingress = find(rendered.manifests, "Ingress", "elk-kibana")
    assert ingress["apiVersion"] == "networking.k8s.io/v1"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": ["kibana.qa.example.com"], "secretName": "kibana-tls"}]
    rule = ingress["spec"]["rules"][0]
    assert rule["host"] == "kibana.qa.example.com"
    assert rule["http"]["paths"][0]["backend"]["service"] == {"name": "elk-kibana", "port": {"name": "https"}}
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/backend-protocol"] == "HTTPS"
    assert settings(rendered)["server.publicBaseUrl"] == "https://kibana.qa.example.com"
    assert rendered.outputs["kibanaUrl"] == "https://kibana.qa.example.com"


def test_kibana_serves_https_with_a_certificate_of_the_stacks_ca(render: Render) -> None:
    rendered = render(namespace="elk-k", kibana={"ingress": INGRESS})
    assert {k: v for k, v in settings(rendered).items() if k.startswith("server.ssl")} == {
        "server.ssl.enabled": True,
        "server.ssl.certificate": "/usr/share/kibana/config/server-certs/tls.crt",
        "server.ssl.key": "/usr/share/kibana/config/server-certs/tls.key",
    }
    [leaf] = [
        r
        for r in rendered.resources
        if r["name"] == "elasticsearch-tls-kibana" and r["custom"] and "Leaf" in r["type"]
    ]
    assert leaf["inputs"]["dns_names"] == [
        "elk-kibana",
        "elk-kibana.elk-k",
        "elk-kibana.elk-k.svc",
        "elk-kibana.elk-k.svc.cluster.local",
        "kibana.qa.example.com",
    ]
    assert find(rendered.manifests, "Secret", "elk-kibana-server-certs")["type"] == "Opaque"
    annotations = deployment(rendered)["spec"]["template"]["metadata"]["annotations"]
    assert "elk-stack/server-cert-checksum" in annotations, "a renewed certificate rolls Kibana"


@pytest.mark.parametrize(
    "config",
    [
        {"kibana": {"https": False}},
        {"security": {"enabled": False}},
        {"elasticsearch": {"tls": {"existingSecret": "company-pki"}}},
    ],
    ids=["off", "no-security", "own-pki"],
)
def test_kibana_serves_plain_http_when_asked_or_when_nothing_can_sign_for_it(
    render: Render, config: dict[str, Any]
) -> None:
    rendered = render(namespace="elk-k", **config)
    assert "server.ssl.enabled" not in settings(rendered)
    assert rendered.outputs["kibanaUrl"] == "http://elk-kibana.elk-k.svc:5601"
    assert not [m for m in rendered.manifests if m["metadata"]["name"] == "elk-kibana-server-certs"]


def test_ingress_without_tls_uses_http(render: Render) -> None:
    rendered = render(kibana={"ingress": {"host": "kibana.local"}})
    assert "tls" not in find(rendered.manifests, "Ingress", "elk-kibana")["spec"]
    assert rendered.outputs["kibanaUrl"] == "http://kibana.local"


def test_config_change_rolls_kibana(render: Render) -> None:
    def checksum(rendered: Rendered) -> str:
        annotations: dict[str, str] = deployment(rendered)["spec"]["template"]["metadata"]["annotations"]
        return annotations["elk-stack/config-checksum"]

    assert checksum(render()) != checksum(render(kibana={"ingress": {"host": "kibana.local"}}))
    assert checksum(render()) == checksum(render())


def test_replicas_share_the_keys_and_get_a_disruption_budget(render: Render) -> None:
    rendered = render(kibana={"replicas": 2})
    budget = find(rendered.manifests, "PodDisruptionBudget", "elk-kibana")
    assert budget["spec"]["maxUnavailable"] == 1
    assert (
        budget["spec"]["selector"]["matchLabels"] == deployment(rendered)["spec"]["selector"]["matchLabels"]
    )
    files = credential_files(deployment(rendered)["spec"]["template"]["spec"])
    key_sources = {
        ref["secretKeyRef"]["name"] for name, ref in files.items() if name in KEY_VARIABLES.values()
    }
    assert key_sources == {"elk-kibana-encryption-keys"}, "every replica reads the same stable keys"
    assert not [m for m in render().manifests if m["kind"] == "PodDisruptionBudget" and "kibana" in str(m)]


def test_logs_directory_is_writable_on_a_read_only_root(rendered_default: Rendered) -> None:
    """Audit logging writes /usr/share/kibana/logs/audit.log; a read-only root made it crash (ECK #8378)."""
    pod = deployment(rendered_default)["spec"]["template"]["spec"]
    main = pod["containers"][0]
    assert main["securityContext"]["readOnlyRootFilesystem"] is True
    mount = next(m for m in main["volumeMounts"] if m["mountPath"] == "/usr/share/kibana/logs")
    assert {"name": mount["name"], "emptyDir": {}} in pod["volumes"]
    assert not mount.get("readOnly")


def test_stops_gracefully(rendered_default: Rendered) -> None:
    """It keeps serving while the Service stops sending, then has Kibana's 30 s shutdown timeout."""
    pod = deployment(rendered_default)["spec"]["template"]["spec"]
    assert pod["containers"][0]["lifecycle"] == {"preStop": {"exec": {"command": ["sleep", "10"]}}}
    assert pod["terminationGracePeriodSeconds"] >= 10 + 30


def test_replicas_prefer_different_hosts(render: Render) -> None:
    template = deployment(render(kibana={"replicas": 2}))["spec"]["template"]
    selector = deployment(render())["spec"]["selector"]["matchLabels"]
    assert template["spec"]["affinity"] == {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {
                        "labelSelector": {"matchLabels": selector},
                        "topologyKey": "kubernetes.io/hostname",
                    },
                }
            ]
        }
    }
    assert selector.items() <= template["metadata"]["labels"].items()


def test_another_stacks_keys_are_read_from_the_named_secret_and_none_are_generated(render: Render) -> None:
    """A stack restoring another's snapshot needs that stack's keys to decrypt its saved objects."""
    rendered = render(kibana={"encryptionKeysSecret": "old-stack-kibana-keys"})
    files = credential_files(deployment(rendered)["spec"]["template"]["spec"])
    references = {name: ref["secretKeyRef"] for name, ref in files.items() if name in KEY_VARIABLES.values()}
    assert references == {
        variable: {"name": "old-stack-kibana-keys", "key": setting}
        for setting, variable in KEY_VARIABLES.items()
    }
    assert not [m for m in rendered.manifests if m["metadata"]["name"] == "elk-kibana-encryption-keys"]
    generated = [r["name"] for r in rendered.resources if r["type"].endswith("GeneratedPassword")]
    assert generated and not [name for name in generated if name.endswith("-key")], generated


def test_kibana_keys_are_generated_when_no_secret_is_named(rendered_default: Rendered) -> None:
    generated = {r["name"] for r in rendered_default.resources if r["type"].endswith("GeneratedPassword")}
    assert {
        "credentials-security-key",
        "credentials-saved-objects-key",
        "credentials-reporting-key",
    } <= generated
