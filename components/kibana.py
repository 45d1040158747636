"""`KibanaUi`: Kibana as a Deployment, with its settings file mounted by `subPath`.

`kibana.yml` carries the Elasticsearch address from `ElasticsearchNode`'s output. The
ConfigMap volume always names its ConfigMap, and the pod template's checksum covers the
resolved file, so a changed address or public URL rolls Kibana and nothing else.
"""

from __future__ import annotations

from typing import Any

import pulumi
import yaml
from pulumi_kubernetes.apps.v1 import Deployment
from pulumi_kubernetes.core.v1 import ConfigMap, Service
from pulumi_kubernetes.networking.v1 import Ingress

from components import common
from components.config import Ingress as IngressConfig
from components.config import KibanaConfig
from components.elasticsearch import ElasticsearchNode

APP = "kibana"
HTTP_PORT = 5601
SETTINGS_FILE = "/usr/share/kibana/config/kibana.yml"
NAMES = common.Names(APP)


def public_url(ingress: IngressConfig) -> str:
    """The URL users open through the Ingress; https when it terminates TLS."""
    scheme = "https" if ingress.tls_secret_name else "http"
    return f"{scheme}://{ingress.host}"


def settings(config: KibanaConfig, elasticsearch_hosts: list[str]) -> dict[str, Any]:
    """`kibana.yml`: listen on all interfaces, talk to the stack's Elasticsearch."""
    result: dict[str, Any] = {
        "server.host": "0.0.0.0",
        "server.port": HTTP_PORT,
        "server.name": NAMES.workload,
        "elasticsearch.hosts": elasticsearch_hosts,
    }
    if config.ingress:
        result["server.publicBaseUrl"] = public_url(config.ingress)
    return result


def pod_spec(config: KibanaConfig, version: str, pull_secrets: list[str]) -> dict[str, Any]:
    """The Kibana pod; its readiness is Kibana's own status API."""
    container = {
        "name": APP,
        "image": f"{config.image}:{version}",
        "ports": [{"name": "http", "containerPort": HTTP_PORT}],
        "resources": common.container_resources(config.resources),
        "securityContext": common.container_security_context(),
        "readinessProbe": {
            "httpGet": {"path": "/api/status", "port": "http"},
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "startupProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 10, "failureThreshold": 30},
        "volumeMounts": [{"name": "config", "mountPath": SETTINGS_FILE, "subPath": "kibana.yml"}],
    }
    volumes = [{"name": "config", "configMap": {"name": NAMES.config}}]
    return common.pod_spec([container], volumes, pull_secrets)


def ingress_spec(ingress: IngressConfig, service_name: pulumi.Input[str]) -> dict[str, Any]:
    """An Ingress routing the host to Kibana's Service, with TLS when a secret is named."""
    spec: dict[str, Any] = {
        "rules": [
            {
                "host": ingress.host,
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": service_name, "port": {"name": "http"}}},
                        }
                    ]
                },
            }
        ],
    }
    if ingress.class_name:
        spec["ingressClassName"] = ingress.class_name
    if ingress.tls_secret_name:
        spec["tls"] = [{"hosts": [ingress.host], "secretName": ingress.tls_secret_name}]
    return spec


class KibanaUi(pulumi.ComponentResource):
    """Kibana, its Service and optional Ingress."""

    url: pulumi.Output[str]
    service_name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        config: KibanaConfig,
        *,
        elasticsearch: ElasticsearchNode,
        target: common.Target,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("elk-stack:index:KibanaUi", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        namespace, version, pull_secrets = target.namespace, target.version, target.pull_secrets
        labels = common.labels(APP, "ui", version)
        selector = common.selector_labels(APP)

        def meta(object_name: str) -> dict[str, Any]:
            return common.metadata(object_name, namespace, labels)

        files = elasticsearch.http_endpoint.apply(
            lambda endpoint: {"kibana.yml": yaml.safe_dump(settings(config, [endpoint]), sort_keys=True)}
        )
        config_map = ConfigMap(f"{name}-config", metadata=meta(NAMES.config), data=files, opts=child)
        service = Service(
            name,
            metadata=meta(NAMES.workload),
            spec={
                "type": config.service.type,
                "selector": selector,
                "ports": [{"name": "http", "port": HTTP_PORT, "targetPort": "http"}],
            },
            opts=child,
        )
        self.deployment = Deployment(
            name,
            metadata=meta(NAMES.workload),
            spec={
                "replicas": config.replicas,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {
                        "labels": labels,
                        "annotations": {common.CHECKSUM_ANNOTATION: files.apply(common.config_checksum)},
                    },
                    "spec": pod_spec(config, version, pull_secrets),
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[config_map]),
        )
        if config.ingress:
            Ingress(
                name,
                metadata=meta(NAMES.workload),
                spec=ingress_spec(config.ingress, service.metadata.name),
                opts=child,
            )
            self.url = pulumi.Output.from_input(public_url(config.ingress))
        else:
            self.url = pulumi.Output.concat(
                "http://", service.metadata.name, ".", service.metadata.namespace, ".svc:", str(HTTP_PORT)
            )
        self.service_name = service.metadata.name
        self.register_outputs({"url": self.url, "serviceName": self.service_name})
