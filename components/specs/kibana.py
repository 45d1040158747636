"""Kibana's settings file, pod and Ingress, from the validated config and its access to the cluster.

`kibana.yml` carries the Elasticsearch address; secrets appear in it only as `${VAR}`
references, which Kibana fills from variables read from mounted Secret files at start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.configuration import Ingress as IngressConfig
from components.configuration import KibanaConfig
from components.specs import common
from components.specs.certificates import CA_KEY, mount_ca
from components.specs.clients import ClusterAccess
from components.specs.credentials import PASSWORD_KEY, USERNAME_KEY

APP = "kibana"
HTTP_PORT = 5601
SETTINGS_FILE = "/usr/share/kibana/config/kibana.yml"
CERTS_DIR = "/usr/share/kibana/config/certs"
# Kibana's own certificate and key (kibana.https), from the stack's CA.
SERVER_CERTS_DIR = "/usr/share/kibana/config/server-certs"
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
# The image's command (its entrypoint is tini), and where the script that reads the
# credential files before it is mounted.
ENTRYPOINT = "/usr/local/bin/kibana-docker"
SCRIPT_DIR = "/opt/elk-stack"
SCRIPT_ITEM = {"key": common.ENV_FILES_SCRIPT.name, "path": common.ENV_FILES_SCRIPT.name}
# What Kibana writes: its container log (50 MiB), its data, logs and tmp emptyDirs (an id,
# caches, and the headless browser's files when reporting renders a PDF or PNG).
SCRATCH = common.Scratch(request="256Mi", limit="1Gi")
REDACTED_STATUS_SINCE = (8, 16)
NAMES = common.Names(APP)
SERVER_SECRET = NAMES.suffixed("server-certs")
SERVER_CERT_ANNOTATION = "elk-stack/server-cert-checksum"
# A restart's budget per pod: the startup probe's 5 minutes and the status turning green.
MINUTES_PER_POD = 6


def server_dns_names(namespace: str, ingress: IngressConfig | None) -> list[str]:
    """The names Kibana's certificate covers: its Service in every form, and the Ingress host."""
    service = NAMES.workload
    names = [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]
    return names + ([ingress.host] if ingress else [])


def scheme(https: bool) -> str:
    """How Kibana's Service is reached: `https` with its own certificate."""
    return "https" if https else "http"


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
    config: KibanaConfig, elasticsearch_hosts: list[str], security: KibanaSecurity | None, https: bool = False
) -> dict[str, Any]:
    """`kibana.yml`: listen on all interfaces, talk to the stack's Elasticsearch.

    Secrets appear only as `${VARIABLE}` references, which Kibana fills from the
    environment, which scripts/env-from-files.sh fills from mounted Secret files.
    """
    result: dict[str, Any] = {
        "server.host": "0.0.0.0",
        "server.port": HTTP_PORT,
        "server.name": NAMES.workload,
        "elasticsearch.hosts": elasticsearch_hosts,
    }
    if config.ingress and not config.ingress.wildcard:
        result["server.publicBaseUrl"] = public_url(config.ingress)
    if https:
        result["server.ssl.enabled"] = True
        result["server.ssl.certificate"] = f"{SERVER_CERTS_DIR}/tls.crt"
        result["server.ssl.key"] = f"{SERVER_CERTS_DIR}/tls.key"
    if security is not None:
        result["elasticsearch.username"] = f"${{{USERNAME_VARIABLE}}}"
        result["elasticsearch.password"] = f"${{{PASSWORD_VARIABLE}}}"
        result |= {setting: f"${{{variable}}}" for setting, variable in KEY_VARIABLES.items()}
        if security.https:
            result["elasticsearch.ssl.certificateAuthorities"] = [f"{CERTS_DIR}/{CA_KEY}"]
            result["elasticsearch.ssl.verificationMode"] = "full"
        if not security.redacted_status:
            # Before 8.16 an anonymous /api/status is refused, which would fail readiness.
            result["status.allowAnonymous"] = True
    return result


def config_files(
    config: KibanaConfig, endpoint: str, security: KibanaSecurity | None, https: bool
) -> dict[str, str]:
    """The ConfigMap's files: `kibana.yml`, and with security the script reading the credential files."""
    files = {"kibana.yml": common.settings_yaml(settings(config, [endpoint], security, https))}
    if security is not None:
        files[common.ENV_FILES_SCRIPT.name] = common.ENV_FILES_SCRIPT.read_text()
    return files


def pod_spec(
    config: KibanaConfig, target: common.Target, security: KibanaSecurity | None, https: bool = False
) -> dict[str, Any]:
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
        sources = [
            (security.credentials_secret, {USERNAME_KEY: USERNAME_VARIABLE, PASSWORD_KEY: PASSWORD_VARIABLE}),
            (security.keys_secret, KEY_VARIABLES),
        ]
        env.append(common.env_files(sources, volumes, mounts))
        mounts.append({"name": "scripts", "mountPath": SCRIPT_DIR, "readOnly": True})
        volumes.append({"name": "scripts", "configMap": {"name": NAMES.config, "items": [SCRIPT_ITEM]}})
        if security.ca_secret is not None:
            # kibana.yml names the same file (see `settings`).
            mount_ca(security.ca_secret, CERTS_DIR, volumes, mounts)
    if https:
        mounts.append({"name": "server-certs", "mountPath": SERVER_CERTS_DIR, "readOnly": True})
        volumes.append(
            {"name": "server-certs", "secret": {"secretName": SERVER_SECRET, "defaultMode": 0o440}}
        )
    port = scheme(https)
    container: dict[str, Any] = {
        "name": APP,
        "image": f"{config.image}:{target.version}",
        "ports": [{"name": port, "containerPort": HTTP_PORT}],
        "resources": common.container_resources(config.resources, SCRATCH),
        "securityContext": common.container_security_context(),
        "readinessProbe": {
            "httpGet": {"path": "/api/status", "port": port, "scheme": port.upper()},
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "startupProbe": {"tcpSocket": {"port": port}, "periodSeconds": 10, "failureThreshold": 30},
        # Not /api/status, which answers 503 while Elasticsearch is away.
        "livenessProbe": common.liveness_probe({"tcpSocket": {"port": port}}),
        "lifecycle": common.pre_stop_wait(PRE_STOP_SECONDS),
        "volumeMounts": mounts,
    }
    if env:
        container["env"] = env
        # The image's entrypoint stays tini; its command runs once the files are variables.
        container["args"] = common.with_env_files(SCRIPT_DIR, [ENTRYPOINT])
    spec = common.pod_spec([container], volumes, target, NAMES.workload, GRACE_SECONDS)
    # Replicas on different hosts where the cluster allows, so one host failure leaves the UI up.
    spec["affinity"] = common.host_anti_affinity(common.selector_labels(APP))
    return spec


def ingress_metadata(metadata: dict[str, Any], https: bool) -> dict[str, Any]:
    """The Ingress's metadata: over HTTPS, ingress-nginx must speak HTTPS to Kibana too."""
    if https:
        return common.annotated(metadata, {"nginx.ingress.kubernetes.io/backend-protocol": "HTTPS"})
    return metadata


def ingress_spec(
    ingress: IngressConfig, service_name: pulumi.Input[str], https: bool = False
) -> dict[str, Any]:
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
                            "backend": {"service": {"name": service_name, "port": {"name": scheme(https)}}},
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


def security_of(
    access: ClusterAccess, keys_secret: str | None, target: common.Target
) -> KibanaSecurity | None:
    """Kibana's login, keys and CA, from its access to the cluster; None without security."""
    if access.login_secret is None or keys_secret is None:
        return None
    return KibanaSecurity(
        credentials_secret=access.login_secret,
        keys_secret=keys_secret,
        ca_secret=access.trusted_ca,
        redacted_status=target.version_tuple >= REDACTED_STATUS_SINCE,
    )
