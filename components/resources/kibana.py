"""`KibanaUi`: Kibana as a Deployment, with its settings file mounted by `subPath`.

`kibana.yml` carries the Elasticsearch address from `ElasticsearchCluster`'s output. The
ConfigMap volume always names its ConfigMap, and the pod template's checksum covers the
resolved file, so a changed address or public URL rolls Kibana and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_kubernetes.apps.v1 import Deployment
from pulumi_kubernetes.core.v1 import ConfigMap, Service
from pulumi_kubernetes.networking.v1 import Ingress

from components.configuration import Ingress as IngressConfig
from components.configuration import KibanaConfig
from components.resources import certificates, objects
from components.resources.credentials import PASSWORD_KEY, USERNAME_KEY, StackCredentials, secrets_for
from components.resources.elasticsearch_cluster import ElasticsearchCluster
from components.specs import common

APP = "kibana"
HTTP_PORT = 5601
SETTINGS_FILE = "/usr/share/kibana/config/kibana.yml"
CERTS_DIR = "/usr/share/kibana/config/certs"
# Kibana writes here at start (its uuid, plugin caches); with a read-only root filesystem
# these are the only writable paths, and they hold nothing worth keeping.
DATA_PATH = "/usr/share/kibana/data"
# Where Kibana's file appenders write, e.g. the audit log once `xpack.security.audit` is
# on: on a read-only root it would crash (ECK #8378), so it is an emptyDir too.
LOGS_PATH = "/usr/share/kibana/logs"
# Keep serving 10 s while the Service and proxies stop sending (see `common.pre_stop_wait`),
# then Kibana's own `server.shutdownTimeout` (30 s) to finish requests in flight.
PRE_STOP_SECONDS = 10
GRACE_SECONDS = 60
# The image's entrypoint (`kibana-docker`) turns env vars named after settings, such as
# ELASTICSEARCH_PASSWORD or XPACK_SECURITY_ENCRYPTIONKEY, into `--setting=value` flags that
# any process on the node can read in /proc/<pid>/cmdline. Secrets therefore travel in
# names outside its list and reach Kibana only through `${VAR}` references in kibana.yml.
USERNAME_VARIABLE = "KIBANA_ES_USERNAME"
PASSWORD_VARIABLE = "KIBANA_ES_PASSWORD"
KEY_VARIABLES = {
    "xpack.security.encryptionKey": "KIBANA_SECURITY_KEY",
    "xpack.encryptedSavedObjects.encryptionKey": "KIBANA_SAVED_OBJECTS_KEY",
    "xpack.reporting.encryptionKey": "KIBANA_REPORTING_KEY",
}
REDACTED_STATUS_SINCE = (8, 16)
NAMES = common.Names(APP)
# A restart's budget per pod: the startup probe's 5 minutes and the status turning green.
MINUTES_PER_POD = 6


@dataclass(frozen=True)
class KibanaSecurity:
    """What Kibana needs when security is on: its user, its keys and the CA to trust."""

    credentials_secret: pulumi.Input[str]
    keys_secret: pulumi.Input[str]
    ca_secret: pulumi.Input[str] | None
    redacted_status: bool

    @property
    def https(self) -> bool:
        """Elasticsearch serves HTTPS whenever its CA is handed over."""
        return self.ca_secret is not None


def public_url(ingress: IngressConfig) -> str:
    """The URL users open through the Ingress; https when it terminates TLS."""
    scheme = "https" if ingress.tls_secret_name else "http"
    return f"{scheme}://{ingress.host}"


def settings(
    config: KibanaConfig, elasticsearch_hosts: list[str], security: KibanaSecurity | None
) -> dict[str, Any]:
    """`kibana.yml`: listen on all interfaces, talk to the stack's Elasticsearch.

    Secrets appear only as `${VARIABLE}` references, which Kibana fills from the
    environment, and the environment takes them from Secrets.
    """
    result: dict[str, Any] = {
        "server.host": "0.0.0.0",
        "server.port": HTTP_PORT,
        "server.name": NAMES.workload,
        "elasticsearch.hosts": elasticsearch_hosts,
    }
    if config.ingress and not config.ingress.wildcard:
        result["server.publicBaseUrl"] = public_url(config.ingress)
    if security is not None:
        result["elasticsearch.username"] = f"${{{USERNAME_VARIABLE}}}"
        result["elasticsearch.password"] = f"${{{PASSWORD_VARIABLE}}}"
        result |= {setting: f"${{{variable}}}" for setting, variable in KEY_VARIABLES.items()}
        if security.https:
            result["elasticsearch.ssl.certificateAuthorities"] = [f"{CERTS_DIR}/{certificates.CA_KEY}"]
            result["elasticsearch.ssl.verificationMode"] = "full"
        if not security.redacted_status:
            # Before 8.16 an anonymous /api/status is refused, which would fail readiness.
            result["status.allowAnonymous"] = True
    return result


def pod_spec(config: KibanaConfig, target: common.Target, security: KibanaSecurity | None) -> dict[str, Any]:
    """The Kibana pod, on a read-only root filesystem; readiness is Kibana's own status API."""
    mounts: list[dict[str, Any]] = [
        {"name": "config", "mountPath": SETTINGS_FILE, "subPath": "kibana.yml"},
        {"name": "data", "mountPath": DATA_PATH},
        {"name": "logs", "mountPath": LOGS_PATH},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": NAMES.config}},
        {"name": "data", "emptyDir": {}},
        {"name": "logs", "emptyDir": {}},
        {"name": "tmp", "emptyDir": {}},
    ]
    env: list[dict[str, Any]] = []
    if security is not None:
        env += [
            common.secret_env(USERNAME_VARIABLE, security.credentials_secret, USERNAME_KEY),
            common.secret_env(PASSWORD_VARIABLE, security.credentials_secret, PASSWORD_KEY),
        ]
        env += [
            common.secret_env(variable, security.keys_secret, setting)
            for setting, variable in KEY_VARIABLES.items()
        ]
        if security.ca_secret is not None:
            # kibana.yml names the same file (see `settings`).
            certificates.mount_ca(security.ca_secret, CERTS_DIR, volumes, mounts)
    container: dict[str, Any] = {
        "name": APP,
        "image": f"{config.image}:{target.version}",
        "ports": [{"name": "http", "containerPort": HTTP_PORT}],
        "resources": common.container_resources(config.resources),
        "securityContext": common.container_security_context(read_only_root=True),
        "readinessProbe": {
            "httpGet": {"path": "/api/status", "port": "http"},
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "startupProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 10, "failureThreshold": 30},
        "lifecycle": common.pre_stop_wait(PRE_STOP_SECONDS),
        "volumeMounts": mounts,
    }
    if env:
        container["env"] = env
    spec = common.pod_spec([container], volumes, target.pull_secrets, NAMES.workload, GRACE_SECONDS)
    # Replicas on different hosts where the cluster allows, so one host failure leaves the UI up.
    spec["affinity"] = common.host_anti_affinity(common.selector_labels(APP))
    return spec


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
    pod_labels: dict[str, str]

    def __init__(
        self,
        name: str,
        config: KibanaConfig,
        *,
        elasticsearch: ElasticsearchCluster,
        target: common.Target,
        credentials: StackCredentials | None,
        after: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Build Kibana; `credentials` are given when security is on.

        `after`: what must be done before its pods first start (the restore of a new stack,
        so nothing writes into the cluster before it).
        """
        super().__init__("elk-stack:index:KibanaUi", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        namespace = target.namespace
        labels = common.labels(APP, "ui", target.version)
        selector = self.pod_labels = common.selector_labels(APP)
        security = None
        if credentials is not None:
            security = KibanaSecurity(
                credentials_secret=credentials.kibana_secret_name,
                keys_secret=credentials.kibana_keys_secret_name,
                ca_secret=elasticsearch.ca_secret_name if elasticsearch.https else None,
                redacted_status=target.version_tuple >= REDACTED_STATUS_SINCE,
            )

        def meta(object_name: str) -> dict[str, Any]:
            return common.metadata(object_name, namespace, labels)

        files = elasticsearch.http_endpoint.apply(
            lambda endpoint: {"kibana.yml": common.settings_yaml(settings(config, [endpoint], security))}
        )
        config_map = ConfigMap(f"{name}-config", metadata=meta(NAMES.config), data=files, opts=child)
        account = objects.service_account(self, f"{name}-account", NAMES.workload, namespace, labels)
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
        if config.replicas > 1:
            objects.disruption_budget(self, name, NAMES.workload, namespace, labels, selector)
        self.deployment = Deployment(
            name,
            metadata=meta(NAMES.workload),
            spec={
                "replicas": config.replicas,
                "selector": {"matchLabels": selector},
                "strategy": {"type": "RollingUpdate"},
                "template": {
                    "metadata": {
                        "labels": labels,
                        "annotations": common.pod_annotations(
                            files,
                            # Only a Kibana that mounts the CA (HTTPS) must roll when it changes.
                            elasticsearch.ca_checksum if elasticsearch.https else None,
                            credentials.revisions["kibana"] if credentials else None,
                        ),
                    },
                    "spec": pod_spec(config, target, security),
                },
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                # The new version starts only once every Elasticsearch node set has rolled.
                depends_on=[
                    config_map,
                    account,
                    *secrets_for(credentials, "kibana"),
                    *elasticsearch.stateful_sets,
                    *after,
                ],
                custom_timeouts=common.rollout_timeouts(config.replicas, MINUTES_PER_POD),
                # Kibana never runs two versions side by side (they would migrate the same
                # saved objects): a new image replaces the Deployment, deleting every old pod
                # first, as ECK switches to Recreate on a version change. Any other change
                # rolls in place (`RollingUpdate`), without downtime when replicas > 1. The
                # engine compares with the deployed image; the program cannot see it.
                replace_on_changes=["spec.template.spec.containers[*].image"],
                delete_before_replace=True,
            ),
        )
        if config.ingress:
            Ingress(
                name,
                metadata=meta(NAMES.workload),
                spec=ingress_spec(config.ingress, service.metadata.name),
                opts=child,
            )
        if config.ingress and not config.ingress.wildcard:
            self.url = pulumi.Output.from_input(public_url(config.ingress))
        else:
            self.url = pulumi.Output.concat(
                "http://", service.metadata.name, ".", service.metadata.namespace, ".svc:", str(HTTP_PORT)
            )
        self.service_name = service.metadata.name
        self.register_outputs({"url": self.url, "serviceName": self.service_name})
