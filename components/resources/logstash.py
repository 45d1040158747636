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
from pulumi_kubernetes.core.v1 import ConfigMap, PersistentVolumeClaim, Service

from components.configuration import LogstashConfig
from components.configuration.pipeline import API_PORT, ListeningPort
from components.generated.deploy_record import ClaimRecord
from components.resources import objects
from components.resources.credentials import Login, logged_in, login_secrets
from components.resources.elasticsearch_cluster import ElasticsearchCluster
from components.specs import common
from components.specs.clients import ClusterAccess
from components.specs.logstash import (
    APP,
    MINUTES_PER_POD,
    NAMES,
    PIPELINE_FILE,
    QUEUE_CLAIM,
    pod_spec,
    service_spec,
    settings,
)

# What a smaller persisted queue takes instead of a smaller claim.
QUEUE_WAY_OUT = (
    "To have the queue use less of it, lower logstash.queue.maxBytes, which caps the queue on the "
    "same claim (docs/reference.md)"
)


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
        login: Login | None,
        after: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Build Logstash; `login` is its writer's, when security is on.

        `after`: what must be done before its pods first start (the restore of a new stack,
        so nothing writes into the cluster before it).
        """
        super().__init__("elk-stack:index:LogstashPipeline", name, None, opts)
        self._name, self._config, self._target = name, config, target
        self._labels = common.labels(APP, "pipeline", target.version)
        self.pod_labels = common.selector_labels(APP)
        self.ports = config.ports
        files = {"logstash.yml": common.settings_yaml(settings(config)), PIPELINE_FILE: config.pipeline_text}
        if login is not None:
            # Reads the login's files before the image's entrypoint (specs/logstash.py).
            files[common.ENV_FILES_SCRIPT.name] = common.ENV_FILES_SCRIPT.read_text()
        child = pulumi.ResourceOptions(parent=self)
        config_map = ConfigMap(f"{name}-config", metadata=self._meta(NAMES.config), data=files, opts=child)
        account = objects.service_account(
            self, f"{name}-account", NAMES.workload, target.namespace, self._labels
        )
        service = self._service()
        headless = self._headless_service()
        claims = self._queue_claims()
        if config.replicas > 1:
            objects.disruption_budget(
                self, name, NAMES.workload, target.namespace, self._labels, self.pod_labels
            )
        # Logstash follows Elasticsearch: on a version change it restarts only once every
        # node set has rolled (StatefulSet updates wait for Ready pods), and it calls the
        # client Service, so that too.
        depends_on = [
            config_map,
            account,
            *claims,
            *login_secrets(login),
            *elasticsearch.clients_wait_for,
            *after,
        ]
        access = logged_in(elasticsearch.access, login)
        self.stateful_set = self._stateful_set(files, access, headless, depends_on)
        self.service_name = service.metadata.name if service else None
        self.endpoints = self._endpoints(service)
        self.queue_claim_names = [claim.metadata.name for claim in claims]
        self.register_outputs(
            {
                "endpoints": self.endpoints,
                "serviceName": self.service_name,
                "queueClaimNames": self.queue_claim_names,
            }
        )

    def _meta(self, object_name: str) -> dict[str, Any]:
        return common.metadata(object_name, self._target.namespace, self._labels)

    def _headless_service(self) -> Service:
        """Stable DNS names for the pods, and their API port."""
        ports = [{"name": "api", "port": API_PORT, "targetPort": "api"}]
        return objects.headless_service(
            self,
            f"{self._name}-headless",
            NAMES.headless,
            self._target.namespace,
            self._labels,
            self.pod_labels,
            ports,
        )

    def _service(self) -> Service | None:
        """The Service applications send to; a pipeline that only pulls (kafka, http_poller) gets none.

        A Service needs a port.
        """
        if not self.ports:
            return None
        spec = service_spec(self._config, self.pod_labels)
        return Service(
            self._name,
            metadata=objects.unawaited_service(self._meta(NAMES.workload), spec["type"]),
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _queue_claims(self) -> list[PersistentVolumeClaim]:
        """One guarded claim per replica for a persisted queue; none for a memory queue."""
        config = self._config
        if config.queue.type != "persisted":
            return []
        record = ClaimRecord(
            f"{self._name}-claims",
            {
                NAMES.claim(QUEUE_CLAIM, ordinal): config.queue.storage.size
                for ordinal in range(config.replicas)
            },
            key="elk-stack:logstash: queue.storage.size",
            way_out=QUEUE_WAY_OUT,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return objects.ordinal_claims(
            self,
            self._name,
            NAMES,
            QUEUE_CLAIM,
            config.replicas,
            config.queue.storage,
            self._target.namespace,
            self._labels,
            after=[record],
        )

    def _stateful_set(
        self,
        files: dict[str, str],
        access: ClusterAccess,
        headless: Service,
        depends_on: list[pulumi.Resource],
    ) -> StatefulSet:
        config = self._config
        template: dict[str, Any] = {}
        if config.queue.type == "persisted":
            template = {
                "persistentVolumeClaimRetentionPolicy": common.claim_retention(),
                "volumeClaimTemplates": [common.claim_template(QUEUE_CLAIM, config.queue.storage, APP)],
            }
        # Over plain HTTP the CA is not mounted, so it must not roll the pods.
        annotations = common.pod_annotations(files, access.ca_revision, access.login_revision)
        return StatefulSet(
            self._name,
            metadata=self._meta(NAMES.workload),
            spec={
                "serviceName": headless.metadata.name,
                "replicas": config.replicas,
                "selector": {"matchLabels": self.pod_labels},
                "podManagementPolicy": "Parallel",
                **template,
                "template": {
                    "metadata": {"labels": self._labels, "annotations": annotations},
                    "spec": pod_spec(config, self._target, access),
                },
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=depends_on,
                custom_timeouts=common.rollout_timeouts(
                    config.replicas, MINUTES_PER_POD, self._target.pod_ready_seconds
                ),
                # As for Elasticsearch: the explicit queue PVCs grow in place; the
                # immutable claim template must not force a replacement.
                ignore_changes=["spec.volumeClaimTemplates"],
            ),
        )

    def _endpoints(self, service: Service | None) -> pulumi.Output[dict[str, str]]:
        """Where applications send, per listening port: `<service>.<namespace>.svc:<port>`."""
        if service is None:
            return pulumi.Output.from_input({})
        ports = self.ports
        return pulumi.Output.all(service.metadata.name, service.metadata.namespace).apply(
            lambda args: {p.name: f"{args[0]}.{args[1]}.svc:{p.port}" for p in ports}
        )
