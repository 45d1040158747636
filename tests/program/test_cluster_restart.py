"""The local control plane's `restart` of one component, and when a stopped process has let go of its ports.

The restart itself, mid-update and against the real binaries, is an e2e scenario
(tests/e2e/test_control_plane_faults.py); here, what needs no cluster: a restart never starts a cluster
where none runs, and a process is not gone while any thread of it still exits.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tools.e2e.control_plane import restart
from tools.e2e.layout import ClusterError, Layout
from tools.e2e.processes import process_alive

# The main thread ends (pthread_exit) while another runs on: how a multithreaded server killed
# with SIGKILL looks for a moment, its main thread a zombie before its last thread has exited.
MAIN_THREAD_ENDS_FIRST = (
    "import ctypes, threading, time\n"
    "threading.Thread(target=time.sleep, args=(60,)).start()\n"
    "ctypes.CDLL(None).pthread_exit(None)\n"
)


def main_thread_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_process_runs_until_its_last_thread_ends() -> None:
    process = subprocess.Popen([sys.executable, "-c", MAIN_THREAD_ENDS_FIRST])
    try:
        deadline = time.monotonic() + 10
        while main_thread_state(process.pid) != "Z":
            assert time.monotonic() < deadline, "the main thread did not end"
            time.sleep(0.01)
        assert process_alive(process.pid)
    finally:
        process.kill()
        process.wait()
    assert not process_alive(process.pid)


def test_restart_starts_nothing_where_the_component_does_not_run(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "cluster")
    with pytest.raises(ClusterError, match=re.escape(f"kube-apiserver is not running in {layout.root};")):
        restart(layout, "kube-apiserver")
    assert not layout.root.exists()


def test_restart_names_the_components_it_knows(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="no component 'apiserver'; there are etcd, kube-apiserver, "):
        restart(Layout(tmp_path), "apiserver")
