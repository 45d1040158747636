"""The local cluster's directory, its ports, and what every part of `tools.e2e.cluster` shares.

A cluster lives in one directory (build/cluster for a developer's, the e2e suite's in its
own): certificates, kubeconfigs, logs, the PIDs of its processes and the ports chosen at its
first `up`. Here too: the built tools, `kubectl apply` as cluster-admin, and the health
checks that tell whether the API server answers and how many nodes are Ready.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from tools.e2e.build import PROJECT_DIR, BuildError, Tool, all_tools, kubernetes_tools
from tools.e2e.provisioner import Kubectl

DEFAULT_DIR = PROJECT_DIR / "build" / "cluster"
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"  # the `kubernetes` Service: first address of SERVICE_CIDR
CLUSTER_NAME = "elk-stack-local"
FRONT_PROXY_CLIENT = "front-proxy-client"


class ClusterError(Exception):
    """Something the user must fix or know about; main prints it as one line."""


def say(message: str) -> None:
    """One progress line."""
    print(f"cluster: {message}", flush=True)


# --- The cluster directory -----------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Where everything of one cluster lives inside its directory."""

    root: Path

    @property
    def pki(self) -> Path:
        """Certificates and keys."""
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        """One log file per component."""
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        """One PID file (and the command line it belongs to) per running component."""
        return self.root / "pids"

    @property
    def ports_file(self) -> Path:
        """The ports chosen at the first `up`; its presence marks a cluster directory."""
        return self.root / "ports.json"

    @property
    def env_file(self) -> Path:
        """The shell file to `source`."""
        return self.root / "env"

    @property
    def admin_kubeconfig(self) -> Path:
        """The cluster-admin's kubeconfig (group system:masters)."""
        return self.kubeconfig("admin")

    def kubeconfig(self, name: str) -> Path:
        """A component's or a namespace user's kubeconfig."""
        return self.root / f"{name}.kubeconfig"

    def log(self, component: str) -> Path:
        """A component's output, kept across restarts and `down`."""
        return self.logs / f"{component}.log"

    def pid_file(self, component: str) -> Path:
        """A running component's PID."""
        return self.pids / f"{component}.pid"

    def argv_file(self, component: str) -> Path:
        """The command line a component was started with, to recognise its PID later."""
        return self.pids / f"{component}.argv"


@dataclass(frozen=True)
class Ports:
    """The 127.0.0.1 ports of one cluster, chosen once and kept in DIR/ports.json."""

    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int


def read_env_file(path: Path) -> dict[str, str]:
    """The current environment plus what a cluster's env file `export`s (PATH, PULUMI_HOME, the backend).

    The suite and the benchmark run the CLI it built as a developer's shell would after
    `source`-ing the file.
    """
    env = dict(os.environ)
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line.startswith("export "):
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        [value] = shlex.split(value) or [""]
        env[key] = os.path.expandvars(value.replace("$PATH", env.get("PATH", "")))
    return env


PROJECT_ENTRIES = ("__main__.py", "components", "pipelines", "scripts", "Pulumi.yaml", ".venv")
"""What a Pulumi project of this program needs: the program, its files and its virtualenv."""


def linked_project(directory: Path) -> Path:
    """A fresh copy of the project at `directory`, made of links to PROJECT_ENTRIES.

    The e2e suite and the deploy benchmark run each stack there, so stack files and state
    never land in the repository.
    """
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for entry in PROJECT_ENTRIES:
        (directory / entry).symlink_to(PROJECT_DIR / entry)
    return directory


def config_in_namespace(stack_file: Path, namespace: str) -> dict[str, Any]:
    """A stack file's config, moved into `namespace` (the program's and the provider's key)."""
    config: dict[str, Any] = yaml.safe_load(stack_file.read_text())["config"]
    config["elk-stack:namespace"] = namespace
    config["kubernetes:namespace"] = namespace
    return config


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on now: bound all at once so they differ, then released."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def cluster_ports(layout: Layout) -> Ports:
    """The recorded ports, or new free ones recorded now."""
    if layout.ports_file.exists():
        return Ports(**json.loads(layout.ports_file.read_text()))
    ports = Ports(*free_ports(len(Ports.__dataclass_fields__)))
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.ports_file.write_text(json.dumps(asdict(ports), indent=2) + "\n")
    return ports


def port_is_free(port: int) -> bool:
    """Whether 127.0.0.1:port can be listened on.

    With SO_REUSEADDR, as Go servers listen: connections of a stopped server that linger in
    TIME_WAIT do not keep it from listening again, so they must not fail this check either.
    """
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def apiserver_url(ports: Ports) -> str:
    """The API server's address, as every kubeconfig names it."""
    return f"https://127.0.0.1:{ports.apiserver}"


# --- Tools ------------------------------------------------------------------------------------


def built_tools() -> dict[str, Tool]:
    """Every tool by binary name; a missing one means `make e2e-tools` has not run."""
    try:
        tools = all_tools()
    except BuildError as error:
        raise ClusterError(str(error)) from error
    missing = [tool.binary for tool in tools if not tool.is_built()]
    if missing:
        listed = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        raise ClusterError(f"tools not built yet ({listed}); run `make e2e-tools` first")
    return {tool.binary: tool for tool in tools}


def admin_kubectl(layout: Layout) -> Kubectl:
    """The built kubectl as cluster-admin (the other tools need not be built)."""
    kubectl = next(tool for tool in kubernetes_tools() if tool.binary == "kubectl")
    if not kubectl.path.exists():
        raise ClusterError("kubectl is not built yet; run `make e2e-tools` first")
    return Kubectl(kubectl.path, layout.admin_kubeconfig)


def apply(kubectl: Kubectl, *objects: dict[str, Any]) -> None:
    """`kubectl apply` a list of objects."""
    listing = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
    kubectl.run("apply", "-f", "-", stdin=json.dumps(listing))


# --- Health checks ------------------------------------------------------------------------


def http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    """Whether GET url answers 200 within two seconds."""
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def admin_tls(layout: Layout) -> ssl.SSLContext:
    """TLS as cluster-admin, trusting only the cluster CA."""
    context = ssl.create_default_context(cafile=str(layout.pki / "ca.crt"))
    context.load_cert_chain(str(layout.pki / "admin.crt"), str(layout.pki / "admin.key"))
    return context


def self_signed_tls() -> ssl.SSLContext:
    """TLS to the controller manager's and scheduler's self-signed health endpoints."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def apiserver_ready(layout: Layout, ports: Ports) -> bool:
    """Whether the API server answers /readyz."""
    if not (layout.pki / "admin.crt").exists():
        return False
    return http_ok(f"{apiserver_url(ports)}/readyz", admin_tls(layout))


def ready_nodes(kubectl: Kubectl) -> tuple[int, int]:
    """How many nodes are Ready, of how many."""
    nodes = json.loads(kubectl.run("get", "nodes", "-o", "json"))["items"]
    ready = [node for node in nodes if is_ready(node)]
    return len(ready), len(nodes)


def is_ready(node: dict[str, Any]) -> bool:
    """Whether a node's Ready condition is True."""
    conditions = node.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
