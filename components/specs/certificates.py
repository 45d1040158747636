"""What the TLS Secrets hold and for which names: keys, subject names, and the CA clients mount.

Each node has a key and certificate of its own, as ECK issues them (one per pod, in a
Secret per node set, as `<pod>.tls.crt` and `<pod>.tls.key`), so one leaked key
impersonates one node only. Clients receive only the CA, never a node's key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

CA_KEY = "ca.crt"
CERT_KEY = "tls.crt"
PRIVATE_KEY = "tls.key"
HOURS_PER_DAY = 24
CA_LIFETIME_FACTOR = 10
CA_KEY_BITS = 3072
NODE_KEY_BITS = 2048
# What a node set's Secret of generated certificates is called after its StatefulSet.
# Not `-certs`: the one shared Secret of earlier versions had that name.
NODE_SECRET_SUFFIX = "node-certs"


@dataclass(frozen=True)
class NodeSetPods:
    """One node set as its certificates see it: the StatefulSet, its headless Service and pods."""

    workload: str
    headless: str
    pods: Sequence[str]


def service_dns_names(service: str, namespace: str) -> list[str]:
    """Every name a client in the cluster may use for a Service."""
    return [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]


def node_dns_names(client: str, headless: str, pod: str, namespace: str) -> list[str]:
    """SANs of one node's certificate: its own pod names, the Services it is behind, and localhost.

    Localhost is for the probes; no other pod's name is in it.
    """
    names = service_dns_names(client, namespace) + service_dns_names(headless, namespace)
    names += [
        f"{pod}.{headless}",
        f"{pod}.{headless}.{namespace}.svc",
        f"{pod}.{headless}.{namespace}.svc.cluster.local",
    ]
    return [*names, "localhost"]


def pod_cert_key(pod: str) -> str:
    """The Secret key (and file name) of a pod's certificate: `<pod>.tls.crt`."""
    return f"{pod}.{CERT_KEY}"


def pod_private_key(pod: str) -> str:
    """The Secret key (and file name) of a pod's private key: `<pod>.tls.key`."""
    return f"{pod}.{PRIVATE_KEY}"


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
