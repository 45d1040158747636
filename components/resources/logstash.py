"""`LogstashPipeline`: Logstash as a StatefulSet, so each replica keeps its own queue volume.

The pipeline comes from a real `.conf` file. Its Elasticsearch address is an environment
variable filled from `ElasticsearchCluster`'s output, so wiring never depends on a re-typed
host name, and the Service exposes exactly the ports the pipeline's inputs listen on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
from pulumi_kubernetes.apps.v1 import StatefulSet
from pulumi_kubernetes.core.v1 import ConfigMap, Service

from components.configuration import LogstashConfig
from components.configuration.pipeline import API_PORT, ListeningPort
from components.resources import certificates, objects
from components.resources.credentials import PASSWORD_KEY, USERNAME_KEY, StackCredentials, secrets_for
from components.resources.elasticsearch_cluster import ElasticsearchCluster
from components.specs import common

APP = "logstash"
QUEUE_CLAIM = "queue"
DATA_PATH = "/usr/share/logstash/data"
SETTINGS_FILE = "/usr/share/logstash/config/logstash.yml"
# The image's pipelines.yml reads every file here; mounting only ours replaces its demo
# pipeline, which would otherwise also bind 5044.
PIPELINE_DIR = "/usr/share/logstash/pipeline"
PIPELINE_FILE = "main.conf"
CERTS_DIR = "/usr/share/logstash/config/certs"
NAMES = common.Names(APP)
# The pipeline of the image's own pipelines.yml, which reads our pipeline directory.
PIPELINE_ID = "main"
# Keep accepting for 10 s while the Service stops sending (see `common.pre_stop_wait`).
PRE_STOP_SECONDS = 10


def settings(config: LogstashConfig) -> dict[str, Any]:
    """`logstash.yml`: API reachable for probes, and the queue as configured."""
    result: dict[str, Any] = {
        "api.http.host": "0.0.0.0",
        "api.http.port": API_PORT,
        "path.data": DATA_PATH,
        "queue.type": config.queue.type,
    }
    if config.queue.type == "persisted":
        # Drain on shutdown, within the pod's grace period; whatever is left stays on disk.
        result |= {"queue.max_bytes": config.queue.max_bytes, "queue.drain": True}
        # An event Elasticsearch refuses (a mapping conflict: 400) is written here instead of
        # dropped. Its default path, <path.data>/dead_letter_queue, is on the queue volume.
        result |= {
            "dead_letter_queue.enable": True,
            "dead_letter_queue.max_bytes": config.queue.dead_letter_max_bytes,
        }
    return result


# A rolling restart's budget per pod: up to 3 minutes to drain the queue, the startup
# probe's 5 minutes, and the pipeline starting.
MINUTES_PER_POD = 10


def grace_seconds(config: LogstashConfig) -> int:
    """The pre-stop wait, then long enough for a persisted queue to drain before the kill."""
    return PRE_STOP_SECONDS + (180 if config.queue.type == "persisted" else 60)


def readiness_probe() -> dict[str, Any]:
    """Ready while the pipeline runs, not merely while the API answers.

    `GET /_node/pipelines/<id>` answers 404 when no pipeline of that id is loaded (Logstash's
    `api/modules/node.rb`: `halt(404) if payload.empty?`), e.g. after a configuration error,
    on every 8.x and 9.x. `/_health_report` (8.16+ only) would also turn a busy pipeline
    (backpressure, a slow Elasticsearch) unhealthy: taking Logstash out of its Service then
    only moves the load, and the report is costly to compute every 10 s.
    """
    return {
        "httpGet": {"path": f"/_node/pipelines/{PIPELINE_ID}", "port": "api"},
        "periodSeconds": 10,
        "failureThreshold": 3,
    }


def pod_spec(
    config: LogstashConfig,
    target: common.Target,
    elasticsearch: ElasticsearchCluster,
    credentials_secret: pulumi.Input[str] | None,
) -> dict[str, Any]:
    """The Logstash pod: pipeline and settings mounted without hiding the image's config dir.

    It sets exactly the variables `components.configuration.pipeline` promises for the security mode.
    """
    mounts: list[dict[str, Any]] = [
        {"name": "config", "mountPath": SETTINGS_FILE, "subPath": "logstash.yml"},
        {"name": "pipeline", "mountPath": PIPELINE_DIR, "readOnly": True},
    ]
    volumes = [
        {
            "name": "config",
            "configMap": {"name": NAMES.config, "items": [{"key": "logstash.yml", "path": "logstash.yml"}]},
        },
        {
            "name": "pipeline",
            "configMap": {"name": NAMES.config, "items": [{"key": PIPELINE_FILE, "path": PIPELINE_FILE}]},
        },
    ]
    if config.queue.type == "persisted":
        mounts.insert(0, {"name": QUEUE_CLAIM, "mountPath": DATA_PATH})
    env: list[dict[str, Any]] = [
        {"name": "LS_JAVA_OPTS", "value": config.java_options},
        {"name": "ELASTICSEARCH_HOSTS", "value": elasticsearch.http_endpoint},
    ]
    if credentials_secret is not None:
        env += [
            common.secret_env("ELASTICSEARCH_USER", credentials_secret, USERNAME_KEY),
            common.secret_env("ELASTICSEARCH_PASSWORD", credentials_secret, PASSWORD_KEY),
        ]
    if elasticsearch.https and elasticsearch.ca_secret_name is not None:
        ca_file = certificates.mount_ca(elasticsearch.ca_secret_name, CERTS_DIR, volumes, mounts)
        env.append({"name": "ELASTICSEARCH_CA", "value": ca_file})
    container = {
        "name": APP,
        "image": f"{config.image}:{target.version}",
        "ports": [{"name": "api", "containerPort": API_PORT}]
        + [{"name": p.name, "containerPort": p.port, "protocol": p.protocol} for p in config.ports],
        "env": env,
        "resources": common.container_resources(config.resources),
        "securityContext": common.container_security_context(),
        "readinessProbe": readiness_probe(),
        "startupProbe": {
            "httpGet": {"path": "/", "port": "api"},
            "periodSeconds": 10,
            "failureThreshold": 30,
        },
        "lifecycle": common.pre_stop_wait(PRE_STOP_SECONDS),
        "volumeMounts": mounts,
    }
    spec = common.pod_spec([container], volumes, target.pull_secrets, NAMES.workload, grace_seconds(config))
    # Pods on different hosts where the cluster allows, so one host failure stops one at most.
    spec["affinity"] = common.host_anti_affinity(common.selector_labels(APP))
    return spec


def service_spec(config: LogstashConfig, selector: dict[str, str]) -> dict[str, Any]:
    """The Service applications send to: each listening port with its protocol."""
    return {
        "type": config.service.type,
        "selector": selector,
        "ports": [
            {"name": p.name, "port": p.port, "protocol": p.protocol, "targetPort": p.name}
            for p in config.ports
        ],
    }


class LogstashPipeline(pulumi.ComponentResource):
    """Logstash receiving application logs and writing them to Elasticsearch."""

    endpoints: pulumi.Output[dict[str, str]]
    pod_labels: dict[str, str]
    ports: list[ListeningPort]
    service_name: pulumi.Output[str] | None
    queue_claim_names: list[pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        config: LogstashConfig,
        *,
        elasticsearch: ElasticsearchCluster,
        target: common.Target,
        credentials: StackCredentials | None,
        after: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Build Logstash; `credentials` are given when security is on.

        `after`: what must be done before its pods first start (the restore of a new stack,
        so nothing writes into the cluster before it).
        """
        super().__init__("elk-stack:index:LogstashPipeline", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        namespace = target.namespace
        labels = common.labels(APP, "pipeline", target.version)
        selector = self.pod_labels = common.selector_labels(APP)
        ports = self.ports = config.ports

        def meta(object_name: str) -> dict[str, Any]:
            return common.metadata(object_name, namespace, labels)

        files = {
            "logstash.yml": common.settings_yaml(settings(config)),
            PIPELINE_FILE: config.pipeline_text,
        }
        config_map = ConfigMap(f"{name}-config", metadata=meta(NAMES.config), data=files, opts=child)
        account = objects.service_account(self, f"{name}-account", NAMES.workload, namespace, labels)
        # A Service needs a port: a pipeline that only pulls (kafka, http_poller) gets none.
        service = (
            Service(name, metadata=meta(NAMES.workload), spec=service_spec(config, selector), opts=child)
            if ports
            else None
        )
        headless = objects.headless_service(
            self,
            f"{name}-headless",
            NAMES.headless,
            namespace,
            labels,
            selector,
            [{"name": "api", "port": API_PORT, "targetPort": "api"}],
        )
        claims = []
        template: dict[str, Any] = {}
        if config.queue.type == "persisted":
            claims = objects.ordinal_claims(
                self, name, NAMES, QUEUE_CLAIM, config.replicas, config.queue.storage, namespace, labels
            )
            template = {
                "persistentVolumeClaimRetentionPolicy": common.claim_retention(),
                "volumeClaimTemplates": [common.claim_template(QUEUE_CLAIM, config.queue.storage, APP)],
            }
        if config.replicas > 1:
            objects.disruption_budget(self, name, NAMES.workload, namespace, labels, selector)
        self.stateful_set = StatefulSet(
            name,
            metadata=meta(NAMES.workload),
            spec={
                "serviceName": headless.metadata.name,
                "replicas": config.replicas,
                "selector": {"matchLabels": selector},
                "podManagementPolicy": "Parallel",
                **template,
                "template": {
                    "metadata": {
                        "labels": labels,
                        "annotations": common.pod_annotations(
                            files,
                            # Over plain HTTP the CA is not mounted, so it must not roll the pods.
                            elasticsearch.ca_checksum if elasticsearch.https else None,
                            credentials.revisions["logstash"] if credentials else None,
                        ),
                    },
                    "spec": pod_spec(
                        config,
                        target,
                        elasticsearch,
                        credentials.logstash_secret_name if credentials else None,
                    ),
                },
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                # Logstash follows Elasticsearch: on a version change it restarts only once
                # every node set has rolled (StatefulSet updates wait for Ready pods).
                depends_on=[
                    config_map,
                    account,
                    *claims,
                    *secrets_for(credentials, "logstash"),
                    *elasticsearch.stateful_sets,
                    *after,
                ],
                custom_timeouts=common.rollout_timeouts(config.replicas, MINUTES_PER_POD),
                # As for Elasticsearch: the explicit queue PVCs grow in place; the
                # immutable claim template must not force a replacement.
                ignore_changes=["spec.volumeClaimTemplates"],
            ),
        )

        self.service_name = service.metadata.name if service else None
        self.endpoints = (
            pulumi.Output.all(service.metadata.name, service.metadata.namespace).apply(
                lambda args: {p.name: f"{args[0]}.{args[1]}.svc:{p.port}" for p in ports}
            )
            if service
            else pulumi.Output.from_input({})
        )
        self.queue_claim_names = [claim.metadata.name for claim in claims]
        self.register_outputs(
            {
                "endpoints": self.endpoints,
                "serviceName": self.service_name,
                "queueClaimNames": self.queue_claim_names,
            }
        )
