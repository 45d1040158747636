"""The control plane's processes: started, recognised, awaited and stopped; their command lines.

Each component runs in a session of its own and outlives the command that started it; its
PID and command line are recorded in the cluster directory, so `down` stops exactly what
`up` started and never a process that merely reuses a recorded PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import time
from collections.abc import Callable
from pathlib import Path

from tools.e2e.build import Tool
from tools.e2e.layout import (
    CLUSTER_NAME,
    FRONT_PROXY_CLIENT,
    SERVICE_CIDR,
    ClusterError,
    Layout,
    Ports,
    say,
)

POD_CIDR = "10.244.0.0/16"
NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
# Fast stages: pods turn Ready (and Job pods Succeeded) at once, deleted pods go at once;
# nodes initialise once and then keep a Lease, as kubelets do.
KWOK_STAGES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)
# Stages of our own, beside this module: a snapshot Job that fails on demand, an
# Elasticsearch pod that takes time to turn Ready, and a pod that never does.
OWN_STAGES = tuple(
    Path(__file__).resolve().parent / "stages" / stage
    for stage in ("snapshot-fails.yaml", "slow-ready.yaml", "never-ready.yaml")
)


def process_alive(pid: int) -> bool:
    """Whether a process runs (a zombie does not; one of our own children is reaped here).

    A process whose main thread is a zombie still runs while another thread of it exits:
    a Go server killed with SIGKILL holds its ports until its last thread is gone, and
    `up` after `stop` would find them taken.
    """
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        threads = len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z" or threads > 1


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
