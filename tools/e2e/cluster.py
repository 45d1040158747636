"""A real Kubernetes control plane on 127.0.0.1, for running the real Pulumi engine offline.

    python -m tools.e2e.cluster {up,down,namespace NAME,status} [--dir DIR]

etcd, kube-apiserver, kube-controller-manager and kube-scheduler are the real binaries
(built by `tools.e2e.build`), so admission (PodSecurity, ResourceQuota, LimitRanger), RBAC,
the scheduler and every controller behave as on a real cluster. Only the nodes are fake:
kwok plays three kubelets in three zones, turning scheduled pods Ready, Job pods
Succeeded and deleted pods gone, without containers. No container runtime, no root, no
images: the whole cluster starts in seconds and fits a laptop or a CI runner.

Nothing provisions volumes without a CSI driver, so `up` also starts a small loop
(`tools.e2e.provisioner`) that plays the external provisioner and resizer for our
StorageClasses. Ports are picked free at the first `up` and recorded in DIR, so any number
of clusters (a developer's in build/cluster, the e2e suite's in its own directory) can run
side by side; each process's PID and command line are recorded too, so `down` stops
exactly what `up` started. `namespace NAME` hands out a namespace as a cluster admin
would: restricted Pod Security, a quota, default limits, and a user who is admin there
and nothing anywhere else.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

from components.configuration.units import parse_quantity
from tools.e2e import pki, provisioner
from tools.e2e.build import (
    PROJECT_DIR,
    BuildError,
    Tool,
    all_tools,
    engine_env,
    install_provider_plugin,
    kubernetes_tools,
    tool_path_dirs,
)
from tools.e2e.provisioner import Kubectl, KubectlError

DEFAULT_DIR = PROJECT_DIR / "build" / "cluster"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "provisioner")
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"  # the `kubernetes` Service: first address of SERVICE_CIDR
POD_CIDR = "10.244.0.0/16"
CLUSTER_NAME = "elk-stack-local"
FRONT_PROXY_CLIENT = "front-proxy-client"
PASSPHRASE = "elk-stack-local"
ZONES = ("zone-a", "zone-b", "zone-c")
REGION = "local"
NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
NODE_RESOURCES = {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "500Gi"}
# Fast stages: pods turn Ready (and Job pods Succeeded) at once, deleted pods go at once;
# nodes initialise once and then keep a Lease, as kubelets do.
KWOK_STAGES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)
# Stages of our own, beside this module: a snapshot Job that fails on demand.
OWN_STAGES = (Path(__file__).resolve().parent / "stages" / "snapshot-fails.yaml",)
DEFAULT_QUOTA = {
    "requests.cpu": "16",
    "limits.cpu": "32",
    "requests.memory": "64Gi",
    "limits.memory": "64Gi",
    "requests.storage": "500Gi",
    "persistentvolumeclaims": "50",
    "pods": "50",
}
CONTAINER_DEFAULTS = {
    "default": {"cpu": "1", "memory": "1Gi"},
    "defaultRequest": {"cpu": "100m", "memory": "256Mi"},
}
NAMESPACE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# What a namespace user must be able to do in its namespace, and must not do: (check, namespace),
# where None is cluster scope and "" the user's own namespace.
USER_MAY = tuple(
    (f"create {resource}", "")
    for resource in (
        "statefulsets.apps",
        "deployments.apps",
        "jobs.batch",
        "services",
        "secrets",
        "configmaps",
        "serviceaccounts",
        "persistentvolumeclaims",
        "networkpolicies.networking.k8s.io",
        "poddisruptionbudgets.policy",
        "ingresses.networking.k8s.io",
        "roles.rbac.authorization.k8s.io",
        "rolebindings.rbac.authorization.k8s.io",
    )
)
USER_MAY_NOT: tuple[tuple[str, str | None], ...] = (
    ("list nodes", None),
    ("create namespaces", None),
    ("list persistentvolumes", None),
    ("create storageclasses.storage.k8s.io", None),
    ("update resourcequotas", ""),
    ("list pods", "default"),
    ("get secrets", "kube-system"),
)


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


# --- Certificates and kubeconfigs ---------------------------------------------------------


def ensure_pki(layout: Layout, ports: Ports) -> None:
    """The CA, the API server's serving cert, a client cert and kubeconfig per component."""
    if not (layout.pki / "ca.crt").exists():
        shutil.rmtree(layout.pki, ignore_errors=True)  # a new CA invalidates every other cert
    ca = pki.ensure_ca(layout.pki)
    pki.ensure_cert(
        ca,
        pki.key_pair(layout.pki, "apiserver"),
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
    pki.ensure_signing_key(layout.pki / "sa.key", layout.pki / "sa.pub")
    # The front proxy's CA, as kubeadm makes it: without it the controller manager and the
    # scheduler keep logging that the request-header CA bundle they delegate to is empty.
    front_proxy_ca = pki.ensure_ca(layout.pki, "front-proxy-ca", "elk-stack-local-front-proxy-ca")
    pki.ensure_cert(front_proxy_ca, pki.key_pair(layout.pki, "front-proxy-client"), FRONT_PROXY_CLIENT)
    clients = {
        "admin": ("cluster-admin", ("system:masters",)),
        "kube-controller-manager": ("system:kube-controller-manager", ()),
        "kube-scheduler": ("system:kube-scheduler", ()),
        "kwok": ("kwok", ("system:masters",)),
    }
    for name, (user, groups) in clients.items():
        client = pki.ensure_cert(ca, pki.key_pair(layout.pki, name), user, groups)
        config = pki.kubeconfig(apiserver_url(ports), ca.cert, client, user, CLUSTER_NAME)
        pki.write_kubeconfig(layout.kubeconfig(name), config)


# --- Processes ----------------------------------------------------------------------------


def process_alive(pid: int) -> bool:
    """Whether a process runs (a zombie does not; one of our own children is reaped here)."""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def command_line(pid: int) -> list[str]:
    """A process's argv as the kernel reports it (empty when it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")[:-1]


def running_pid(layout: Layout, component: str) -> int | None:
    """The component's PID if it runs and is still the process we started (not a reused PID)."""
    try:
        pid = int(layout.pid_file(component).read_text().strip())
        argv = json.loads(layout.argv_file(component).read_text())
    except (OSError, ValueError):
        return None
    if process_alive(pid) and command_line(pid) == argv:
        return pid
    return None


def spawn(layout: Layout, component: str, argv: list[str], extra_env: dict[str, str] | None = None) -> int:
    """Start a component in its own session, logging to DIR/logs; record its PID and argv.

    posix_spawn rather than subprocess.Popen: the process outlives this command, and a
    Popen object would warn about a child still running when it is collected.
    """
    layout.logs.mkdir(parents=True, exist_ok=True)
    layout.pids.mkdir(parents=True, exist_ok=True)
    log = layout.log(component)
    with log.open("a") as stream:
        stream.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} {shlex.join(argv)}\n")
    file_actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    env = {**os.environ, **(extra_env or {})}
    pid = os.posix_spawn(argv[0], argv, env, file_actions=file_actions, setsid=True)
    layout.argv_file(component).write_text(json.dumps(argv) + "\n")
    layout.pid_file(component).write_text(f"{pid}\n")
    return pid


def last_log_line(layout: Layout, component: str) -> str:
    """The last non-empty line a component logged, to explain why it stopped."""
    try:
        lines = layout.log(component).read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def wait_for(layout: Layout, component: str, pid: int, ready: Callable[[], bool], timeout: float) -> None:
    """Wait until `ready()`; fail early, with the log's last line, if the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if not process_alive(pid):
            reason = last_log_line(layout, component)
            raise ClusterError(f"{component} exited while starting ({layout.log(component)}): {reason}")
        time.sleep(0.25)
    raise ClusterError(f"{component} was not ready after {timeout:.0f} s; see {layout.log(component)}")


def stop(layout: Layout, component: str, grace: float = 20.0) -> int | None:
    """SIGTERM the component if it is ours, SIGKILL it after `grace` s; forget its PID."""
    pid = running_pid(layout, component)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if process_alive(pid):
            os.kill(pid, signal.SIGKILL)
            while process_alive(pid):
                time.sleep(0.05)
    for path in (layout.pid_file(component), layout.argv_file(component)):
        path.unlink(missing_ok=True)
    return pid


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


# --- Component command lines --------------------------------------------------------------


def etcd_command(layout: Layout, ports: Ports, etcd: Path) -> list[str]:
    """One etcd member; no fsync, since the cluster is disposable and disks are slow."""
    client, peer = f"http://127.0.0.1:{ports.etcd_client}", f"http://127.0.0.1:{ports.etcd_peer}"
    return [
        str(etcd),
        "--name=local",
        f"--data-dir={layout.root / 'etcd'}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=local={peer}",
        "--unsafe-no-fsync=true",
        "--log-level=warn",
    ]


def apiserver_command(layout: Layout, ports: Ports, binary: Path) -> list[str]:
    """kube-apiserver with RBAC, the default admission plugins and service-account tokens."""
    return [
        str(binary),
        f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={ports.apiserver}",
        "--endpoint-reconciler-type=none",
        "--authorization-mode=RBAC",
        f"--client-ca-file={layout.pki / 'ca.crt'}",
        f"--tls-cert-file={layout.pki / 'apiserver.crt'}",
        f"--tls-private-key-file={layout.pki / 'apiserver.key'}",
        f"--cert-dir={layout.pki}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={layout.pki / 'sa.pub'}",
        f"--service-account-signing-key-file={layout.pki / 'sa.key'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--requestheader-client-ca-file={layout.pki / 'front-proxy-ca.crt'}",
        f"--requestheader-allowed-names={FRONT_PROXY_CLIENT}",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={layout.pki / 'front-proxy-client.crt'}",
        f"--proxy-client-key-file={layout.pki / 'front-proxy-client.key'}",
        "--profiling=false",
    ]


def controller_manager_command(layout: Layout, ports: Ports, binary: Path) -> list[str]:
    """kube-controller-manager: per-controller service accounts, token and root-CA publishing."""
    kubeconfig = layout.kubeconfig("kube-controller-manager")
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports.controller_manager}",
        "--leader-elect=false",
        f"--cluster-name={CLUSTER_NAME}",
        f"--service-account-private-key-file={layout.pki / 'sa.key'}",
        f"--root-ca-file={layout.pki / 'ca.crt'}",
        "--use-service-account-credentials=true",
        f"--cluster-signing-cert-file={layout.pki / 'ca.crt'}",
        f"--cluster-signing-key-file={layout.pki / 'ca.key'}",
        "--profiling=false",
    ]


def scheduler_command(layout: Layout, ports: Ports, binary: Path) -> list[str]:
    """kube-scheduler with the default profile."""
    kubeconfig = layout.kubeconfig("kube-scheduler")
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports.scheduler}",
        "--leader-elect=false",
        "--profiling=false",
    ]


def kwok_command(layout: Layout, kwok: Tool) -> list[str]:
    """The kwok controller for our annotated nodes only, with the stages built beside it."""
    stages = [kwok.directory / "stage" / stage for stage in KWOK_STAGES] + list(OWN_STAGES)
    missing = [str(stage) for stage in stages if not stage.exists()]
    if missing:
        raise ClusterError(f"kwok stage files missing ({missing[0]}); rebuild with `make e2e-tools`")
    return [
        str(kwok.path),
        f"--kubeconfig={layout.kubeconfig('kwok')}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={'='.join(NODE_ANNOTATION)}",
        f"--cidr={POD_CIDR}",
        "--node-lease-duration-seconds=40",
        *(f"--config={stage}" for stage in stages),
    ]


# --- Objects every cluster has ------------------------------------------------------------


def node_manifest(index: int) -> dict[str, Any]:
    """A fake node for kwok: standard labels, one zone per node, generous resources."""
    name = f"kwok-node-{index}"
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "topology.kubernetes.io/region": REGION,
        "topology.kubernetes.io/zone": ZONES[index % len(ZONES)],
        "type": "kwok",
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "annotations": {NODE_ANNOTATION[0]: NODE_ANNOTATION[1]}},
        "status": {"allocatable": NODE_RESOURCES, "capacity": NODE_RESOURCES},
    }


def storage_class(name: str, binding_mode: str, default: bool = False) -> dict[str, Any]:
    """A StorageClass served by our provisioner loop; every class can grow its volumes."""
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name, "annotations": annotations},
        "provisioner": provisioner.PROVISIONER,
        "reclaimPolicy": "Retain",
        "volumeBindingMode": binding_mode,
        "allowVolumeExpansion": True,
    }


def storage_classes() -> list[dict[str, Any]]:
    """`standard` (the default), `ssd` (bound where the pod lands, as clouds do) and `hdd`."""
    return [
        storage_class("standard", "Immediate", default=True),
        storage_class("ssd", "WaitForFirstConsumer"),
        storage_class("hdd", "Immediate"),
    ]


def ingress_class(name: str) -> dict[str, Any]:
    """An IngressClass whose Ingresses the provisioner loop gives an address (it routes nothing)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": name},
        "spec": {"controller": provisioner.INGRESS_CONTROLLER},
    }


def env_file_text(layout: Layout, ports: Ports) -> str:
    """A shell file to `source`: the tools first on PATH, this cluster, a local Pulumi backend."""
    path_dirs = ":".join(tool_path_dirs())
    variables = {
        "KUBECONFIG": str(layout.admin_kubeconfig),
        "PULUMI_BACKEND_URL": f"file://{layout.root / 'pulumi-state'}",
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        **engine_env(),
    }
    lines = [
        f"# The local cluster in {layout.root} (API server {apiserver_url(ports)}).",
        "# Written by `python -m tools.e2e.cluster up`; source it in a shell.",
        f'export PATH={shlex.quote(path_dirs)}:"$PATH"',
        *(f"export {name}={shlex.quote(value)}" for name, value in variables.items()),
    ]
    return "\n".join(lines) + "\n"


# --- Commands -----------------------------------------------------------------------------


def start_missing(layout: Layout, ports: Ports, tools: dict[str, Tool]) -> None:
    """Start, in order, each component that is not running, waiting until it is ready."""
    kubectl = Kubectl(tools["kubectl"].path, layout.admin_kubeconfig)
    local_tls = self_signed_tls()
    etcd = etcd_command(layout, ports, tools["etcd"].path)
    etcd_health = f"http://127.0.0.1:{ports.etcd_client}/health"
    start(layout, "etcd", etcd, partial(http_ok, etcd_health), ports.etcd_client)
    apiserver = apiserver_command(layout, ports, tools["kube-apiserver"].path)
    start(layout, "kube-apiserver", apiserver, lambda: apiserver_ready(layout, ports), ports.apiserver)
    for component, command, port in (
        ("kube-controller-manager", controller_manager_command, ports.controller_manager),
        ("kube-scheduler", scheduler_command, ports.scheduler),
    ):
        argv = command(layout, ports, tools[component].path)
        start(layout, component, argv, partial(http_ok, f"https://127.0.0.1:{port}/healthz", local_tls), port)
    apply(kubectl, *(node_manifest(index) for index in range(len(ZONES))))
    kwok = kwok_command(layout, tools["kwok"])
    kwok_env = {"KWOK_WORKDIR": str(layout.root / "kwok")}  # keeps kwok off ~/.kwok/kwok.yaml
    start(layout, "kwok", kwok, partial(all_nodes_ready, kubectl), None, kwok_env)
    say(f"nodes Ready: {', '.join(f'kwok-node-{i} ({zone})' for i, zone in enumerate(ZONES))}")
    apply(kubectl, *storage_classes(), ingress_class("nginx"))
    say("storage classes: standard (default), ssd (WaitForFirstConsumer), hdd")
    argv = provisioner.command(sys.executable, layout.root, tools["kubectl"].path, layout.admin_kubeconfig)
    log = layout.log("provisioner")
    started = partial(logged_since, log, log.stat().st_size if log.exists() else 0, provisioner.STARTED)
    start(layout, "provisioner", argv, started, None, {"PYTHONPATH": str(PROJECT_DIR)})


def logged_since(log: Path, offset: int, text: str) -> bool:
    """Whether `text` appears in a log after byte `offset` (what this start of it wrote)."""
    try:
        with log.open("rb") as stream:
            stream.seek(offset)
            return text.encode() in stream.read()
    except OSError:
        return False


def all_nodes_ready(kubectl: Kubectl) -> bool:
    """Whether the fake nodes are all Ready (False while the API cannot tell)."""
    try:
        return ready_nodes(kubectl)[0] >= len(ZONES)
    except KubectlError:
        return False


def start(
    layout: Layout,
    component: str,
    argv: list[str],
    ready: Callable[[], bool],
    port: int | None,
    extra_env: dict[str, str] | None = None,
) -> None:
    """Start one component unless it runs, and wait until it is ready."""
    pid = running_pid(layout, component)
    if pid is not None:
        say(f"{component} already running (pid {pid})")
        return
    started = time.monotonic()
    pid = spawn(layout, component, argv, extra_env)
    wait_for(layout, component, pid, ready, timeout=90)
    where = f"127.0.0.1:{port}, " if port else ""
    say(f"{component} ready ({where}pid {pid}, {time.monotonic() - started:.1f} s)")


def component_ports(ports: Ports) -> dict[str, tuple[int, ...]]:
    """The ports each component listens on."""
    return {
        "etcd": (ports.etcd_client, ports.etcd_peer),
        "kube-apiserver": (ports.apiserver,),
        "kube-controller-manager": (ports.controller_manager,),
        "kube-scheduler": (ports.scheduler,),
    }


def check_ports(layout: Layout, ports: Ports) -> None:
    """Before starting anything: fail if a stopped component's recorded port is taken."""
    for component, numbers in component_ports(ports).items():
        if running_pid(layout, component) is not None:
            continue
        for port in numbers:
            if not port_is_free(port):
                raise ClusterError(
                    f"port {port} of {component} (recorded in {layout.ports_file}) is taken by another "
                    "process; stop it, or `down --purge` to start over on new ports"
                )


def finish_up(layout: Layout, ports: Ports) -> None:
    """The env file, the pulumi state directory and the engine's provider plugin."""
    (layout.root / "pulumi-state").mkdir(parents=True, exist_ok=True)
    layout.env_file.write_text(env_file_text(layout, ports))
    try:
        install_provider_plugin()
    except BuildError as error:
        raise ClusterError(str(error)) from error


def all_running(layout: Layout) -> bool:
    """Whether every component runs."""
    return all(running_pid(layout, component) is not None for component in COMPONENTS)


def up(layout: Layout) -> None:
    """Start whatever is not running; a running, ready cluster only gets its env file refreshed."""
    started = time.monotonic()
    tools = built_tools()
    fresh = not layout.ports_file.exists()
    ports = cluster_ports(layout)
    if not fresh and all_running(layout) and apiserver_ready(layout, ports):
        finish_up(layout, ports)
        say(f"already up at {apiserver_url(ports)}; source {layout.env_file}")
        return
    check_ports(layout, ports)
    ensure_pki(layout, ports)
    say(f"certificates and kubeconfigs in {layout.root}")
    start_missing(layout, ports, tools)
    finish_up(layout, ports)
    say(f"up in {time.monotonic() - started:.1f} s at {apiserver_url(ports)}")
    say(f"now run: source {layout.env_file}")


def is_cluster_dir(layout: Layout) -> bool:
    """Whether a directory is one `up` made (safe to delete) or does not exist."""
    return not layout.root.exists() or layout.ports_file.exists() or not any(layout.root.iterdir())


def down(layout: Layout, purge: bool) -> None:
    """Stop every recorded process in reverse start order; with purge, delete the directory."""
    if purge and not is_cluster_dir(layout):
        raise ClusterError(f"{layout.root} has no ports.json; not deleting a directory `up` did not make")
    for component in reversed(COMPONENTS):
        pid = stop(layout, component)
        say(f"{component} stopped (pid {pid})" if pid else f"{component} was not running")
    if purge:
        shutil.rmtree(layout.root, ignore_errors=True)
        say(f"deleted {layout.root}")


def status(layout: Layout) -> int:
    """One line per component, then the Ready nodes; exit 0 only when everything runs."""
    for component in COMPONENTS:
        pid = running_pid(layout, component)
        print(f"{component:<24} {f'running (pid {pid})' if pid else 'stopped'}")
    ports = Ports(**json.loads(layout.ports_file.read_text())) if layout.ports_file.exists() else None
    if ports is not None and apiserver_ready(layout, ports):
        ready, total = ready_nodes(admin_kubectl(layout))
        print(f"{'nodes':<24} {ready}/{total} Ready ({apiserver_url(ports)})")
    else:
        print(f"{'nodes':<24} unknown (API server not answering)")
    return 0 if all_running(layout) else 1


# --- Namespaces handed out to users -------------------------------------------------------


def namespace_objects(namespace: str, user: str, quota: dict[str, str]) -> list[dict[str, Any]]:
    """A pre-allocated namespace: restricted Pod Security, quota, default limits, one admin."""
    modes = ("enforce", "warn", "audit")
    pod_security = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in modes}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": pod_security}},
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "namespace-quota", "namespace": namespace},
            "spec": {"hard": quota},
        },
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": {"name": "container-defaults", "namespace": namespace},
            "spec": {"limits": [{"type": "Container", **CONTAINER_DEFAULTS}]},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "namespace-admin", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        },
    ]


def parse_quota(overrides: list[str]) -> dict[str, str]:
    """The default quota with `KEY=VALUE` overrides applied."""
    quota = dict(DEFAULT_QUOTA)
    for override in overrides:
        key, separator, value = override.partition("=")
        if not separator or not key:
            raise ClusterError(f"--quota {override!r}: expected KEY=VALUE, e.g. requests.cpu=8")
        try:
            parse_quantity(value)
        except ValueError as error:
            raise ClusterError(f"--quota {key}: {error}") from error
        quota[key] = value
    return quota


def can_i(kubectl: Kubectl, check: str, namespace: str | None) -> bool:
    """`kubectl auth can-i` (a SelfSubjectAccessReview) as whoever `kubectl` authenticates as."""
    scope = ["-n", namespace] if namespace else []
    result = kubectl.completed("auth", "can-i", *check.split(), *scope)
    answer = result.stdout.strip()
    if answer not in ("yes", "no"):
        raise ClusterError(f"kubectl auth can-i {check}: {result.stderr.strip() or answer}")
    return answer == "yes"


def wrong_rights(kubectl: Kubectl, namespace: str) -> list[str]:
    """What the user can do but must not, or cannot do but must, in words."""
    wrong = []
    for checks, allowed in ((USER_MAY, True), (USER_MAY_NOT, False)):
        for check, where in checks:
            scope = None if where is None else where or namespace
            if can_i(kubectl, check, scope) != allowed:
                wrong.append(f"{'cannot' if allowed else 'can'} {check} in {scope or 'cluster scope'}")
    return wrong


def verify_user(kubectl: Kubectl, namespace: str, timeout: float = 15) -> None:
    """Fail unless the user can do what a deploy needs in its namespace, and nothing outside it.

    A new RoleBinding takes the API server's RBAC cache a moment to see, so a first answer
    of "cannot" is asked again until `timeout`.
    """
    deadline = time.monotonic() + timeout
    while wrong := wrong_rights(kubectl, namespace):
        if time.monotonic() > deadline:
            raise ClusterError(f"namespace user has the wrong rights: {'; '.join(wrong)}")
        time.sleep(0.5)


def wait_for_default_service_account(kubectl: Kubectl, namespace: str, timeout: float = 30) -> None:
    """Pods are refused until the controller manager has made the namespace's `default` SA."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(KubectlError):
            kubectl.run("get", "serviceaccount", "default", "-n", namespace, "-o", "name")
            return
        time.sleep(0.5)
    raise ClusterError(f"no `default` ServiceAccount in {namespace} after {timeout:.0f} s")


def namespace(layout: Layout, name: str, quota_overrides: list[str]) -> None:
    """Create or update namespace NAME and write DIR/NAME.kubeconfig for its only admin."""
    if not NAMESPACE_NAME.match(name):
        raise ClusterError(f"{name!r} is not a valid namespace name (lower-case letters, digits and '-')")
    quota = parse_quota(quota_overrides)
    if not layout.ports_file.exists() or not apiserver_ready(layout, ports := cluster_ports(layout)):
        raise ClusterError(f"the cluster in {layout.root} is not up; run `python -m tools.e2e.cluster up`")
    admin = admin_kubectl(layout)
    user = f"elk-user-{name}"
    ca = pki.key_pair(layout.pki, "ca")
    client = pki.ensure_cert(ca, pki.key_pair(layout.pki / "users", user), user)
    apply(admin, *namespace_objects(name, user, quota))
    config = pki.kubeconfig(apiserver_url(ports), ca.cert, client, user, CLUSTER_NAME, namespace=name)
    kubeconfig = pki.write_kubeconfig(layout.kubeconfig(name), config)
    wait_for_default_service_account(admin, name)
    verify_user(Kubectl(admin.binary, kubeconfig), name)
    checked = len(USER_MAY) + len(USER_MAY_NOT)
    say(
        f"namespace {name}: restricted Pod Security, quota and default limits; user {user} is admin "
        f"in {name} and nothing else ({checked} rights checked); KUBECONFIG={kubeconfig}"
    )


# --- Command line -------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; --dir is accepted before or after the command."""
    parser = argparse.ArgumentParser(prog="python -m tools.e2e.cluster", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="default: build/cluster")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start the cluster (or whatever part of it is not running)")
    stop_parser = commands.add_parser("down", help="stop every process `up` started")
    stop_parser.add_argument("--purge", action="store_true", help="also delete the cluster directory")
    namespace_parser = commands.add_parser("namespace", help="a pre-allocated namespace and its user")
    namespace_parser.add_argument("name")
    namespace_parser.add_argument(
        "--quota", action="append", default=[], metavar="KEY=VALUE", help="override a quota entry"
    )
    commands.add_parser("status", help="which components run, how many nodes are Ready")
    for sub in commands.choices.values():
        sub.add_argument("--dir", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run one command; errors are one line on stderr and exit status 1."""
    args = parse_args(argv)
    layout = Layout(args.dir.resolve())
    try:
        if args.command == "up":
            up(layout)
        elif args.command == "down":
            down(layout, args.purge)
        elif args.command == "namespace":
            namespace(layout, args.name, args.quota)
        else:
            return status(layout)
    except (ClusterError, KubectlError, pki.PkiError) as error:
        print(f"cluster {args.command}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"cluster {args.command}: interrupted; `down` stops whatever was started", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
