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
from components.certificates import ElasticsearchCertificates, node_dns_names
from components.config import ElasticsearchConfig
from components.credentials import PASSWORD_KEY, StackCredentials

APP = "elasticsearch"
HTTP_PORT = 9200
TRANSPORT_PORT = 9300
DATA_CLAIM = "data"
DATA_PATH = "/usr/share/elasticsearch/data"
CONFIG_DIR = "/usr/share/elasticsearch/config"
CONFIG_FILE = f"{CONFIG_DIR}/elasticsearch.yml"
# A directory of its own inside the config directory: Elasticsearch reads certificates
# only from there, and mounting it does not hide the image's other config files.
CERTS_DIR = f"{CONFIG_DIR}/certs"
PASSWORD_VARIABLE = "ELASTIC_PASSWORD"
NAMES = common.Names(APP)


def settings(config: ElasticsearchConfig, secure: bool) -> dict[str, Any]:
    """`elasticsearch.yml` for a single node without privileged kernel tuning."""
    result: dict[str, Any] = {
        "cluster.name": common.INSTANCE,
        "network.host": "0.0.0.0",
        "discovery.type": "single-node",
        # mmap needs vm.max_map_count raised by a privileged init container; niofs does not.
        "node.store.allow_mmap": False,
        "path.data": DATA_PATH,
        "xpack.security.enabled": secure,
    }
    if secure:
        tls_files = {
            "key": "certs/tls.key",
            "certificate": "certs/tls.crt",
            "certificate_authorities": ["certs/ca.crt"],
        }
        result["xpack.security.enrollment.enabled"] = False
        # Transport TLS is always on with security; "certificate" checks the chain (not the
        # host name, as nodes connect by IP).
        result["xpack.security.transport.ssl.enabled"] = True
        result["xpack.security.transport.ssl.verification_mode"] = "certificate"
        result |= {f"xpack.security.transport.ssl.{k}": v for k, v in tls_files.items()}
        result["xpack.security.http.ssl.enabled"] = config.tls.http
        if config.tls.http:
            result |= {f"xpack.security.http.ssl.{k}": v for k, v in tls_files.items()}
    return result


def scheme(config: ElasticsearchConfig, secure: bool) -> str:
    """`https` when security is on and HTTP TLS is not turned off."""
    return "https" if secure and config.tls.http else "http"


def health_check(config: ElasticsearchConfig, secure: bool) -> str:
    """A shell command that succeeds once cluster health is at least yellow.

    A single node never turns green while indices ask for replicas, so yellow is ready.
    Credentials go to curl through a file descriptor (`printf` is a shell built-in), so
    the password is never on a command line.
    """
    url = (
        f"{scheme(config, secure)}://localhost:{HTTP_PORT}/_cluster/health?wait_for_status=yellow&timeout=2s"
    )
    options = "-fsS --max-time 4"
    if secure:
        options += f' -K <(printf \'user = "elastic:%s"\\n\' "${PASSWORD_VARIABLE}")'
        if config.tls.http:
            options += f" --cacert {CERTS_DIR}/ca.crt"
    return f"curl {options} '{url}'"


def readiness_probe(config: ElasticsearchConfig, secure: bool) -> dict[str, Any]:
    """Ready once health is at least yellow."""
    return {
        "exec": {"command": ["bash", "-c", health_check(config, secure)]},
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        "failureThreshold": 3,
    }


def startup_probe() -> dict[str, Any]:
    """Give the JVM and a recovering shard store up to 5 minutes before liveness matters."""
    return {"tcpSocket": {"port": HTTP_PORT}, "periodSeconds": 10, "failureThreshold": 30}


def pod_spec(
    config: ElasticsearchConfig,
    target: common.Target,
    superuser_secret: pulumi.Input[str] | None,
    certs_secret: pulumi.Input[str] | None,
) -> dict[str, Any]:
    """The pod: the data volume is part of the spec itself, so no path builds a pod without it."""
    secure = superuser_secret is not None
    env = [{"name": "ES_JAVA_OPTS", "value": config.java_options}]
    mounts: list[dict[str, Any]] = [
        {"name": DATA_CLAIM, "mountPath": DATA_PATH},
        {"name": "config", "mountPath": CONFIG_FILE, "subPath": "elasticsearch.yml"},
    ]
    volumes: list[dict[str, Any]] = [{"name": "config", "configMap": {"name": NAMES.config}}]
    if superuser_secret is not None:
        # The image turns ELASTIC_PASSWORD into the bootstrap password of `elastic`.
        env.append(common.secret_env(PASSWORD_VARIABLE, superuser_secret, PASSWORD_KEY))
    if certs_secret is not None:
        mounts.append({"name": "certs", "mountPath": CERTS_DIR, "readOnly": True})
        volumes.append({"name": "certs", "secret": {"secretName": certs_secret, "defaultMode": 0o440}})
    container = {
        "name": APP,
        "image": f"{config.image}:{target.version}",
        "ports": [
            {"name": "http", "containerPort": HTTP_PORT},
            {"name": "transport", "containerPort": TRANSPORT_PORT},
        ],
        "env": env,
        "resources": common.container_resources(config.resources),
        "securityContext": common.container_security_context(),
        "readinessProbe": readiness_probe(config, secure),
        "startupProbe": startup_probe(),
        "volumeMounts": mounts,
    }
    return common.pod_spec([container], volumes, target.pull_secrets, NAMES.workload, grace_seconds=120)


class ElasticsearchNode(pulumi.ComponentResource):
    """A single Elasticsearch node with its Services, settings, certificates and guarded data."""

    http_endpoint: pulumi.Output[str]
    service_name: pulumi.Output[str]
    headless_service_name: pulumi.Output[str]
    data_claim_names: list[pulumi.Output[str]]
    ca_secret_name: pulumi.Output[str] | None
    ca_checksum: pulumi.Output[str] | None
    https: bool
    pod_labels: dict[str, str]

    def __init__(
        self,
        name: str,
        config: ElasticsearchConfig,
        *,
        target: common.Target,
        credentials: StackCredentials | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Build the node; `credentials` turn security on (authentication and TLS)."""
        super().__init__("elk-stack:index:ElasticsearchNode", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        secure = credentials is not None
        superuser_secret = credentials.elastic_secret_name if credentials else None
        self.https = scheme(config, secure) == "https"
        labels = common.labels(APP, "search", target.version)
        self.pod_labels = common.selector_labels(APP)

        def meta(object_name: str) -> dict[str, Any]:
            return common.metadata(object_name, target.namespace, labels)

        account = common.service_account(self, f"{name}-account", NAMES.workload, target.namespace, labels)
        files = {"elasticsearch.yml": yaml.safe_dump(settings(config, secure), sort_keys=True)}
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
                "selector": self.pod_labels,
                "ports": ports,
            },
            opts=child,
        )
        client = Service(
            f"{name}-http",
            metadata=meta(NAMES.workload),
            spec={"type": "ClusterIP", "selector": self.pod_labels, "ports": ports[:1]},
            opts=child,
        )
        certs_secret: pulumi.Output[str] | None = None
        self.ca_secret_name = self.ca_checksum = None
        if secure:
            pods = [NAMES.pod(ordinal) for ordinal in range(config.replicas)]
            certificates = ElasticsearchCertificates(
                f"{name}-tls",
                config.tls,
                dns_names=pulumi.Output.from_input(target.namespace).apply(
                    lambda namespace: node_dns_names(NAMES.workload, NAMES.headless, pods, namespace)
                ),
                names=NAMES,
                target=target,
                opts=child,
            )
            certs_secret = certificates.node_secret_name
            self.ca_secret_name = certificates.ca_secret_name
            self.ca_checksum = certificates.ca_checksum
        claims = common.ordinal_claims(
            self, name, NAMES, DATA_CLAIM, config.replicas, config.storage, target.namespace, labels
        )
        self.stateful_set = StatefulSet(
            name,
            metadata=meta(NAMES.workload),
            spec={
                "serviceName": headless.metadata.name,
                "replicas": config.replicas,
                "selector": {"matchLabels": self.pod_labels},
                "podManagementPolicy": "Parallel",
                "updateStrategy": {"type": "RollingUpdate"},
                "persistentVolumeClaimRetentionPolicy": common.claim_retention(),
                "volumeClaimTemplates": [common.claim_template(DATA_CLAIM, config.storage, APP)],
                "template": {
                    "metadata": {
                        "labels": labels,
                        "annotations": common.pod_annotations(
                            files,
                            credentials_revision=credentials.revisions["elastic"] if credentials else None,
                        ),
                    },
                    "spec": pod_spec(config, target, superuser_secret, certs_secret),
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[config_map, account, *claims]),
        )

        self.service_name = client.metadata.name
        self.headless_service_name = headless.metadata.name
        self.http_endpoint = pulumi.Output.concat(
            scheme(config, secure),
            "://",
            client.metadata.name,
            ".",
            client.metadata.namespace,
            ".svc:",
            str(HTTP_PORT),
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
