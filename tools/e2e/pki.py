"""Certificates and kubeconfigs for the local control plane, made with Debian's openssl.

Every component authenticates with a client certificate signed by one cluster CA, as
kubeadm sets it up: the API server maps the subject's CN to a user and each O to a group,
so `O=system:masters` is a cluster admin and `CN=system:kube-scheduler` gets the
scheduler's built-in RBAC. Keys are ECDSA P-256 (instant to generate; every Kubernetes
component accepts them). Files are only created when missing, so a restart keeps them.
`ensure_pki` makes a cluster's whole set; `tools.e2e.namespaces` adds a namespace user's.
"""

from __future__ import annotations

import base64
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tools.e2e.layout import CLUSTER_NAME, FRONT_PROXY_CLIENT, SERVICE_IP, Layout, Ports, apiserver_url

CA_DAYS = 3650
LEAF_DAYS = 825
EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-noenc"]


class PkiError(Exception):
    """openssl failed; the message carries the command and its error output."""


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, side by side in one directory."""

    cert: Path
    key: Path

    def exists(self) -> bool:
        """Whether both files are there."""
        return self.cert.exists() and self.key.exists()


def key_pair(directory: Path, name: str) -> KeyPair:
    """Where the certificate and key called `name` live."""
    return KeyPair(directory / f"{name}.crt", directory / f"{name}.key")


def openssl(*args: str) -> None:
    """Run one openssl command; raise PkiError with its output when it fails."""
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PkiError(f"`openssl {' '.join(args[:2])}` failed: {result.stderr.strip()}")


def subject(common_name: str, organizations: tuple[str, ...] = ()) -> str:
    """An openssl `-subj` string: the groups (O) first, then the user name (CN)."""
    return "".join(f"/O={org}" for org in organizations) + f"/CN={common_name}"


def ensure_ca(directory: Path, name: str = "ca", common_name: str = "elk-stack-local-ca") -> KeyPair:
    """A CA (by default the cluster's): self-signed, long-lived, created once."""
    ca = key_pair(directory, name)
    if ca.exists():
        return ca
    directory.mkdir(parents=True, exist_ok=True)
    openssl(
        "req", "-x509", *EC_KEY, "-keyout", str(ca.key), "-out", str(ca.cert),
        "-days", str(CA_DAYS), "-subj", subject(common_name),
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
    )  # fmt: skip
    return ca


def extensions(server: bool, dns_names: tuple[str, ...], ip_addresses: tuple[str, ...]) -> str:
    """The X.509v3 extensions of a leaf certificate, as an openssl extfile."""
    lines = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        f"extendedKeyUsage={'serverAuth' if server else 'clientAuth'}",
    ]
    names = [f"DNS:{name}" for name in dns_names] + [f"IP:{address}" for address in ip_addresses]
    if names:
        lines.append(f"subjectAltName={','.join(names)}")
    return "\n".join(lines) + "\n"


def ensure_cert(
    ca: KeyPair,
    target: KeyPair,
    common_name: str,
    organizations: tuple[str, ...] = (),
    server: bool = False,
    dns_names: tuple[str, ...] = (),
    ip_addresses: tuple[str, ...] = (),
) -> KeyPair:
    """A key and a certificate signed by `ca` (client by default), created once."""
    if target.exists():
        return target
    target.cert.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        request = Path(scratch) / "request.csr"
        extfile = Path(scratch) / "extensions.cnf"
        extfile.write_text(extensions(server, dns_names, ip_addresses))
        openssl(
            "req", "-new", *EC_KEY, "-keyout", str(target.key), "-out", str(request),
            "-subj", subject(common_name, organizations),
        )  # fmt: skip
        openssl(
            "x509", "-req", "-in", str(request), "-CA", str(ca.cert), "-CAkey", str(ca.key),
            "-set_serial", f"0x{secrets.token_hex(16)}", "-days", str(LEAF_DAYS),
            "-extfile", str(extfile), "-out", str(target.cert),
        )  # fmt: skip
    target.key.chmod(0o600)
    return target


def ensure_signing_key(private_key: Path, public_key: Path) -> None:
    """The key pair that signs and verifies ServiceAccount tokens, created once."""
    if private_key.exists() and public_key.exists():
        return
    private_key.parent.mkdir(parents=True, exist_ok=True)
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(private_key))
    openssl("pkey", "-in", str(private_key), "-pubout", "-out", str(public_key))
    private_key.chmod(0o600)


def encoded(path: Path) -> str:
    """A PEM file as kubeconfigs embed it: base64 of the whole file."""
    return base64.b64encode(path.read_bytes()).decode()


def kubeconfig(
    server: str, ca_cert: Path, client: KeyPair, user: str, cluster: str, namespace: str | None = None
) -> dict[str, Any]:
    """A self-contained kubeconfig (certificates embedded) with one cluster, user and context."""
    context: dict[str, str] = {"cluster": cluster, "user": user}
    if namespace:
        context["namespace"] = namespace
    context_name = namespace or cluster
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": cluster, "cluster": {"server": server, "certificate-authority-data": encoded(ca_cert)}}
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": encoded(client.cert),
                    "client-key-data": encoded(client.key),
                },
            }
        ],
        "contexts": [{"name": context_name, "context": context}],
        "current-context": context_name,
    }


def write_kubeconfig(path: Path, config: dict[str, Any]) -> Path:
    """Write a kubeconfig readable by its owner only (it holds a private key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


# --- Certificates and kubeconfigs ---------------------------------------------------------


def ensure_pki(layout: Layout, ports: Ports) -> None:
    """The CA, the API server's serving cert, a client cert and kubeconfig per component."""
    if not (layout.pki / "ca.crt").exists():
        shutil.rmtree(layout.pki, ignore_errors=True)  # a new CA invalidates every other cert
    ca = ensure_ca(layout.pki)
    ensure_cert(
        ca,
        key_pair(layout.pki, "apiserver"),
        "kube-apiserver",
        server=True,
        dns_names=(
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ),
        ip_addresses=("127.0.0.1", SERVICE_IP),
    )
    ensure_signing_key(layout.pki / "sa.key", layout.pki / "sa.pub")
    # The front proxy's CA, as kubeadm makes it: without it the controller manager and the
    # scheduler keep logging that the request-header CA bundle they delegate to is empty.
    front_proxy_ca = ensure_ca(layout.pki, "front-proxy-ca", "elk-stack-local-front-proxy-ca")
    ensure_cert(front_proxy_ca, key_pair(layout.pki, "front-proxy-client"), FRONT_PROXY_CLIENT)
    clients = {
        "admin": ("cluster-admin", ("system:masters",)),
        "kube-controller-manager": ("system:kube-controller-manager", ()),
        "kube-scheduler": ("system:kube-scheduler", ()),
        "kwok": ("kwok", ("system:masters",)),
    }
    for name, (user, groups) in clients.items():
        client = ensure_cert(ca, key_pair(layout.pki, name), user, groups)
        config = kubeconfig(apiserver_url(ports), ca.cert, client, user, CLUSTER_NAME)
        write_kubeconfig(layout.kubeconfig(name), config)
