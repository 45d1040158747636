"""`KibanaUi`: Kibana as a Deployment, with its settings file mounted by `subPath`.

`kibana.yml` carries the Elasticsearch address from `ElasticsearchCluster`'s output. The
ConfigMap volume always names its ConfigMap, and the pod template's checksum covers the
resolved file, so a changed address or public URL rolls Kibana and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import pulumi
from pulumi_kubernetes.apps.v1 import Deployment
from pulumi_kubernetes.core.v1 import ConfigMap, Service
from pulumi_kubernetes.networking.v1 import Ingress

from components.configuration import KibanaConfig
from components.resources import objects
from components.resources.certificates import ServerCertificate
from components.resources.credentials import Login, logged_in, login_secrets
from components.resources.elasticsearch_cluster import ElasticsearchCluster
from components.specs import common
from components.specs.clients import ClusterAccess
from components.specs.kibana import (
    APP,
    HTTP_PORT,
    MINUTES_PER_POD,
    NAMES,
    SERVER_CERT_ANNOTATION,
    SERVER_SECRET,
    KibanaSecurity,
    config_files,
    ingress_metadata,
    ingress_spec,
    pod_spec,
    public_url,
    scheme,
    security_of,
    server_dns_names,
)


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
        login: Login | None,
        keys_secret: str | None,
        after: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Build Kibana; `login` and `keys_secret` (its encryption keys) are given when security is on.

        With `kibana.https`, the cluster's CA signs Kibana's own certificate, when it can
        (security on, certificates generated): Kibana then serves HTTPS, and its Service,
        probes, Ingress and URL follow.

        `after`: what must be done before its pods first start (the restore of a new stack,
        so nothing writes into the cluster before it).
        """
        super().__init__("elk-stack:index:KibanaUi", name, None, opts)
        self._name, self._config, self._target = name, config, target
        self._labels = common.labels(APP, "ui", target.version)
        self.pod_labels = common.selector_labels(APP)
        access = logged_in(elasticsearch.access, login)
        security = security_of(access, keys_secret, target)
        server = self._server_certificate(elasticsearch) if config.https else None
        self._https = https = server is not None
        files = elasticsearch.http_endpoint.apply(
            lambda endpoint: config_files(config, endpoint, security, https)
        )
        child = pulumi.ResourceOptions(parent=self)
        config_map = ConfigMap(f"{name}-config", metadata=self._meta(NAMES.config), data=files, opts=child)
        account = objects.service_account(
            self, f"{name}-account", NAMES.workload, target.namespace, self._labels
        )
        service = self._service()
        if config.replicas > 1:
            objects.disruption_budget(
                self, name, NAMES.workload, target.namespace, self._labels, self.pod_labels
            )
        # The new version starts only once every Elasticsearch node set has rolled and the
        # client Service it calls exists.
        depends_on = [config_map, account, *login_secrets(login), *elasticsearch.clients_wait_for, *after]
        depends_on += [server.secret] if server is not None else []
        self.deployment = self._deployment(files, access, security, depends_on, server)
        if config.ingress:
            Ingress(
                name,
                metadata=ingress_metadata(self._meta(NAMES.workload), https),
                spec=ingress_spec(config.ingress, service.metadata.name, https),
                opts=child,
            )
        self.url = self._url(service)
        self.service_name = service.metadata.name
        self.register_outputs({"url": self.url, "serviceName": self.service_name})

    def _service(self) -> Service:
        """Kibana's Service; its port is named, and declares, the protocol Kibana speaks."""
        protocol = scheme(self._https)
        return Service(
            self._name,
            metadata=objects.unawaited_service(self._meta(NAMES.workload), self._config.service.type),
            spec={
                "type": self._config.service.type,
                "selector": self.pod_labels,
                "ports": [
                    {"name": protocol, "port": HTTP_PORT, "targetPort": protocol, "appProtocol": protocol}
                ],
            },
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _server_certificate(self, elasticsearch: ElasticsearchCluster) -> ServerCertificate | None:
        """Kibana's certificate for its Service names and the Ingress host, from the cluster's CA."""
        namespace = pulumi.Output.from_input(self._target.namespace)
        names = namespace.apply(partial(server_dns_names, ingress=self._config.ingress))
        return elasticsearch.server_secret("kibana", SERVER_SECRET, NAMES.workload, names)

    def _meta(self, object_name: str) -> dict[str, Any]:
        return common.metadata(object_name, self._target.namespace, self._labels)

    def _deployment(
        self,
        files: pulumi.Output[dict[str, str]],
        access: ClusterAccess,
        security: KibanaSecurity | None,
        depends_on: list[pulumi.Resource],
        server: ServerCertificate | None,
    ) -> Deployment:
        config = self._config
        # Only a Kibana that mounts the CA (HTTPS) must roll when it changes; and when its
        # own certificate is renewed, as Kibana reads it at start.
        annotations = common.pod_annotations(files, access.ca_revision, access.login_revision)
        if server is not None:
            annotations[SERVER_CERT_ANNOTATION] = server.revision
        return Deployment(
            self._name,
            metadata=self._meta(NAMES.workload),
            spec={
                "replicas": config.replicas,
                "selector": {"matchLabels": self.pod_labels},
                "strategy": {"type": "RollingUpdate"},
                "template": {
                    "metadata": {"labels": self._labels, "annotations": annotations},
                    "spec": pod_spec(config, self._target, security, self._https),
                },
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=depends_on,
                custom_timeouts=common.rollout_timeouts(
                    config.replicas, MINUTES_PER_POD, self._target.pod_ready_seconds
                ),
                # Kibana never runs two versions side by side (they would migrate the same
                # saved objects): a new image replaces the Deployment, deleting every old pod
                # first, as ECK switches to Recreate on a version change. Any other change
                # rolls in place (`RollingUpdate`), without downtime when replicas > 1. The
                # engine compares with the deployed image; the program cannot see it.
                replace_on_changes=["spec.template.spec.containers[*].image"],
                delete_before_replace=True,
            ),
        )

    def _url(self, service: Service) -> pulumi.Output[str]:
        """The public URL through the Ingress, else the Service's address in the cluster."""
        ingress = self._config.ingress
        if ingress and not ingress.wildcard:
            return pulumi.Output.from_input(public_url(ingress))
        return pulumi.Output.concat(
            scheme(self._https),
            "://",
            service.metadata.name,
            ".",
            service.metadata.namespace,
            ".svc:",
            str(HTTP_PORT),
        )
