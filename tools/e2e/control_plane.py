"""`up`, `down` and `status` of the local control plane, and the objects every cluster has.

`up` starts, in order, whatever is not running (etcd, kube-apiserver, the controller
manager, the scheduler, kwok and its fake nodes, the provisioner loop) and writes the env
file to `source`; `down` stops them in reverse order; `status` prints one line each;
`restart` stops one and lets `up` start it again (the e2e suite's control-plane faults).
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from tools.e2e import provisioner
from tools.e2e.build import PROJECT_DIR, BuildError, Tool, engine_env, install_provider_plugin, tool_path_dirs
from tools.e2e.layout import (
    ClusterError,
    Layout,
    Ports,
    admin_kubectl,
    apiserver_ready,
    apiserver_url,
    apply,
    built_tools,
    cluster_ports,
    http_ok,
    port_is_free,
    ready_nodes,
    say,
    self_signed_tls,
)
from tools.e2e.pki import ensure_pki
from tools.e2e.processes import (
    NODE_ANNOTATION,
    apiserver_command,
    controller_manager_command,
    etcd_command,
    kwok_command,
    running_pid,
    scheduler_command,
    start,
    stop,
)
from tools.e2e.provisioner import Kubectl, KubectlError

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "provisioner")
PASSPHRASE = "elk-stack-local"
ZONES = ("zone-a", "zone-b", "zone-c")
REGION = "local"
NODE_RESOURCES = {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "500Gi"}
RESTART_GRACE = 2.0
"""Seconds `restart` gives a component after SIGTERM before it SIGKILLs it. While clients
are connected, kube-apiserver stops listening at once but was still running after 20 s,
and etcd took 7 s to exit: the fault is the outage, and that wait would only lengthen it."""


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


def restart(layout: Layout, component: str, grace: float = RESTART_GRACE) -> None:
    """Stop one running component and start it again as `up` does: its command line, its ports.

    The e2e suite's control-plane fault. `up` starts only what is not running, so the rest
    runs throughout. It returns once every component runs, the API server answers and every
    node is Ready, since the suite's later tests share this cluster.
    """
    if component not in COMPONENTS:
        raise ClusterError(f"no component {component!r}; there are {', '.join(COMPONENTS)}")
    if running_pid(layout, component) is None:
        raise ClusterError(f"{component} is not running in {layout.root}; `up` starts it")
    stop(layout, component, grace)
    up(layout)
    wait_until_healthy(layout)


def wait_until_healthy(layout: Layout, timeout: float = 60.0) -> None:
    """Wait until every component runs, the API server answers and every node is Ready."""
    ports, kubectl = cluster_ports(layout), admin_kubectl(layout)
    deadline = time.monotonic() + timeout
    while not (all_running(layout) and apiserver_ready(layout, ports) and all_nodes_ready(kubectl)):
        if time.monotonic() > deadline:
            raise ClusterError(f"the cluster was not healthy after {timeout:.0f} s; see {layout.logs}")
        time.sleep(0.25)


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
