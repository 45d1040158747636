"""`ElasticsearchCertificates`: a private CA and the node certificate, or the user's own PKI.

Generated with `pulumi-tls`, so nothing runs in the cluster and no cluster-scoped
cert-manager is needed. `early_renewal_hours` makes a `pulumi up` inside the renewal
window issue new certificates before the old ones expire: the rotation the Helm charts'
one-year certificates never get. Clients receive only the CA, never the node's key.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_tls as tls
from pulumi_kubernetes.core.v1 import Secret

from components import common
from components.config import ElasticsearchTls

CA_KEY = "ca.crt"
CERT_KEY = "tls.crt"
PRIVATE_KEY = "tls.key"
HOURS_PER_DAY = 24
CA_LIFETIME_FACTOR = 10
CA_USES = ["cert_signing", "crl_signing", "digital_signature"]
NODE_USES = ["digital_signature", "key_encipherment", "server_auth", "client_auth"]


def service_dns_names(service: str, namespace: str) -> list[str]:
    """Every name a client in the cluster may use for a Service."""
    return [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]


def node_dns_names(client: str, members: list[tuple[str, list[str]]], namespace: str) -> list[str]:
    """SANs for the node certificate: every Service and pod name, and localhost for probes.

    That is the client Service, each node set's headless Service and every pod behind it.
    """
    names = service_dns_names(client, namespace)
    for headless, pods in members:
        names += service_dns_names(headless, namespace)
        for pod in pods:
            names += [
                f"{pod}.{headless}",
                f"{pod}.{headless}.{namespace}.svc",
                f"{pod}.{headless}.{namespace}.svc.cluster.local",
            ]
    return [*names, "localhost"]


class ElasticsearchCertificates(pulumi.ComponentResource):
    """The node's TLS Secret and the CA-only Secret its clients mount."""

    node_secret_name: pulumi.Output[str]
    ca_secret_name: pulumi.Output[str]
    ca_checksum: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        config: ElasticsearchTls,
        *,
        dns_names: pulumi.Input[list[str]],
        names: common.Names,
        target: common.Target,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("elk-stack:index:ElasticsearchCertificates", name, None, opts)
        if config.existing_secret:
            self.node_secret_name = pulumi.Output.from_input(config.existing_secret)
            self.ca_secret_name = self.node_secret_name
            # The CA's content is not known here; naming the Secret is what rolls clients.
            self.ca_checksum = pulumi.Output.from_input(common.digest(config.existing_secret))
            self.register_outputs({"nodeSecretName": self.node_secret_name})
            return

        child = pulumi.ResourceOptions(parent=self)
        validity_hours = config.validity_days * HOURS_PER_DAY
        renewal_hours = config.early_renewal_days * HOURS_PER_DAY
        ca_key = tls.PrivateKey(f"{name}-ca-key", algorithm="RSA", rsa_bits=3072, opts=child)
        ca = tls.SelfSignedCert(
            f"{name}-ca",
            private_key_pem=ca_key.private_key_pem,
            is_ca_certificate=True,
            subject={"common_name": f"{common.PART_OF} CA", "organization": common.PART_OF},
            validity_period_hours=validity_hours * CA_LIFETIME_FACTOR,
            early_renewal_hours=renewal_hours * CA_LIFETIME_FACTOR,
            allowed_uses=CA_USES,
            opts=child,
        )
        node_key = tls.PrivateKey(f"{name}-node-key", algorithm="RSA", rsa_bits=2048, opts=child)
        request = tls.CertRequest(
            f"{name}-node-request",
            private_key_pem=node_key.private_key_pem,
            subject={"common_name": names.workload, "organization": common.PART_OF},
            dns_names=dns_names,
            ip_addresses=["127.0.0.1"],
            opts=child,
        )
        node = tls.LocallySignedCert(
            f"{name}-node",
            cert_request_pem=request.cert_request_pem,
            ca_private_key_pem=ca_key.private_key_pem,
            ca_cert_pem=ca.cert_pem,
            validity_period_hours=validity_hours,
            early_renewal_hours=renewal_hours,
            allowed_uses=NODE_USES,
            opts=child,
        )
        labels = common.labels(names.app, "certificates", target.version)
        node_secret = Secret(
            f"{name}-node",
            metadata=common.metadata(names.suffixed("certs"), target.namespace, labels),
            type="kubernetes.io/tls",
            string_data={CERT_KEY: node.cert_pem, PRIVATE_KEY: node_key.private_key_pem, CA_KEY: ca.cert_pem},
            opts=child,
        )
        ca_secret = Secret(
            f"{name}-ca",
            metadata=common.metadata(names.suffixed("ca"), target.namespace, labels),
            type="Opaque",
            string_data={CA_KEY: ca.cert_pem},
            opts=child,
        )
        self.node_secret_name = node_secret.metadata.name
        self.ca_secret_name = ca_secret.metadata.name
        self.ca_checksum = ca.cert_pem.apply(common.digest)
        self.register_outputs({"nodeSecretName": self.node_secret_name, "caSecretName": self.ca_secret_name})


def mount_ca(
    secret_name: pulumi.Input[str],
    directory: str,
    volumes: list[dict[str, Any]],
    mounts: list[dict[str, Any]],
) -> str:
    """Add a volume holding only the CA certificate, for Elasticsearch's clients; return its path."""
    volumes.append(
        {
            "name": "elasticsearch-ca",
            "secret": {"secretName": secret_name, "items": [{"key": CA_KEY, "path": CA_KEY}]},
        }
    )
    mounts.append({"name": "elasticsearch-ca", "mountPath": directory, "readOnly": True})
    return f"{directory}/{CA_KEY}"
