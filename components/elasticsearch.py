"""`ElasticsearchNode`: a StatefulSet whose data lives on explicit, protected PVCs.

The data PVCs are Pulumi resources of their own, named the way the StatefulSet controller
names claims, so the controller adopts them instead of creating unguarded ones. That is
what lets `protect` and `retain_on_delete` cover the log data, and what will let a later
resize patch the PVCs in place (claim templates are immutable).
"""

from __future__ import annotations

from typing import Any

import pulumi
import yaml
from pulumi_kubernetes.apps.v1 import StatefulSet
from pulumi_kubernetes.core.v1 import ConfigMap, Service

from components import common
from components.config import ElasticsearchConfig

APP = "elasticsearch"
HTTP_PORT = 9200
TRANSPORT_PORT = 9300
DATA_CLAIM = "data"
DATA_PATH = "/usr/share/elasticsearch/data"
CONFIG_FILE = "/usr/share/elasticsearch/config/elasticsearch.yml"
NAMES = common.Names(APP)


def settings(config: ElasticsearchConfig) -> dict[str, Any]:
    """`elasticsearch.yml` for a single node without privileged kernel tuning."""
    return {
        "cluster.name": common.INSTANCE,
        "network.host": "0.0.0.0",
        "discovery.type": "single-node",
        # mmap needs vm.max_map_count raised by a privileged init container; niofs does not.
        "node.store.allow_mmap": False,
        "path.data": DATA_PATH,
        # Security (auth and TLS) is the subject of its own change; until then it is off
        # explicitly, so the image's auto-configuration does not half-enable it.
        "xpack.security.enabled": False,
    }


def readiness_probe() -> dict[str, Any]:
    """Ready once health is at least yellow: a single node never reaches green with replicas."""
    check = (
        f"curl -fsS --max-time 4 "
        f"'http://127.0.0.1:{HTTP_PORT}/_cluster/health?wait_for_status=yellow&timeout=2s'"
    )
    return {
        "exec": {"command": ["bash", "-c", check]},
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        "failureThreshold": 3,
    }


def startup_probe() -> dict[str, Any]:
    """Give the JVM and a recovering shard store up to 5 minutes before liveness matters."""
    return {"tcpSocket": {"port": HTTP_PORT}, "periodSeconds": 10, "failureThreshold": 30}


def pod_spec(config: ElasticsearchConfig, version: str, pull_secrets: list[str]) -> dict[str, Any]:
    """The pod: the data volume is part of the spec itself, so no path builds a pod without it."""
    container = {
        "name": APP,
        "image": f"{config.image}:{version}",
        "ports": [
            {"name": "http", "containerPort": HTTP_PORT},
            {"name": "transport", "containerPort": TRANSPORT_PORT},
        ],
        "env": [{"name": "ES_JAVA_OPTS", "value": config.java_options}],
        "resources": common.container_resources(config.resources),
        "securityContext": common.container_security_context(),
        "readinessProbe": readiness_probe(),
        "startupProbe": startup_probe(),
        "volumeMounts": [
            {"name": DATA_CLAIM, "mountPath": DATA_PATH},
            {"name": "config", "mountPath": CONFIG_FILE, "subPath": "elasticsearch.yml"},
        ],
    }
    volumes = [{"name": "config", "configMap": {"name": NAMES.config}}]
    return common.pod_spec([container], volumes, pull_secrets, grace_seconds=120)


class ElasticsearchNode(pulumi.ComponentResource):
    """A single Elasticsearch node with its Services, settings and guarded data volume."""

    http_endpoint: pulumi.Output[str]
    service_name: pulumi.Output[str]
    headless_service_name: pulumi.Output[str]
    data_claim_names: list[pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        config: ElasticsearchConfig,
        *,
        target: common.Target,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("elk-stack:index:ElasticsearchNode", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        namespace, version, pull_secrets = target.namespace, target.version, target.pull_secrets
        labels = common.labels(APP, "search", version)
        selector = common.selector_labels(APP)

        def meta(object_name: str) -> dict[str, Any]:
            return common.metadata(object_name, namespace, labels)

        files = {"elasticsearch.yml": yaml.safe_dump(settings(config), sort_keys=True)}
        config_map = ConfigMap(f"{name}-config", metadata=meta(NAMES.config), data=files, opts=child)
        ports = [
            {"name": "http", "port": HTTP_PORT, "targetPort": "http"},
            {"name": "transport", "port": TRANSPORT_PORT, "targetPort": "transport"},
        ]
        headless = Service(
            f"{name}-headless",
            metadata=meta(NAMES.headless),
            spec={
                "clusterIP": "None",
                "publishNotReadyAddresses": True,
                "selector": selector,
                "ports": ports,
            },
            opts=child,
        )
        client = Service(
            f"{name}-http",
            metadata=meta(NAMES.workload),
            spec={"type": "ClusterIP", "selector": selector, "ports": ports[:1]},
            opts=child,
        )
        claims = common.ordinal_claims(
            self, name, NAMES, DATA_CLAIM, config.replicas, config.storage, namespace, labels
        )
        self.stateful_set = StatefulSet(
            name,
            metadata=meta(NAMES.workload),
            spec={
                "serviceName": headless.metadata.name,
                "replicas": config.replicas,
                "selector": {"matchLabels": selector},
                "podManagementPolicy": "Parallel",
                "updateStrategy": {"type": "RollingUpdate"},
                "persistentVolumeClaimRetentionPolicy": common.claim_retention(),
                "volumeClaimTemplates": [common.claim_template(DATA_CLAIM, config.storage, APP)],
                "template": {
                    "metadata": {
                        "labels": labels,
                        "annotations": {common.CHECKSUM_ANNOTATION: common.config_checksum(files)},
                    },
                    "spec": pod_spec(config, version, pull_secrets),
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[config_map, *claims]),
        )

        self.service_name = client.metadata.name
        self.headless_service_name = headless.metadata.name
        self.http_endpoint = pulumi.Output.concat(
            "http://", client.metadata.name, ".", client.metadata.namespace, ".svc:", str(HTTP_PORT)
        )
        self.data_claim_names = [claim.metadata.name for claim in claims]
        self.register_outputs(
            {
                "httpEndpoint": self.http_endpoint,
                "serviceName": self.service_name,
                "headlessServiceName": self.headless_service_name,
                "dataClaimNames": self.data_claim_names,
            }
        )
