"""The real-engine suite: a fresh local control plane, and stacks deployed as a namespace-only user.

Everything here is real but the kubelet: the Pulumi CLI, the Python language host, the
Kubernetes provider, etcd, kube-apiserver (RBAC, PodSecurity, quotas), the controllers and
the scheduler, all built by `make e2e-tools`. kwok stands in for the kubelet, so pods turn
Ready without running. The control plane lives in build/e2e/cluster and is stopped at the
end of the session, also when a test fails; its logs stay there for a post-mortem.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.e2e import build
from tools.e2e.layout import config_in_namespace, linked_project, read_env_file

PROJECT_DIR = Path(__file__).resolve().parents[2]
# ELK_E2E_DIR lets two runs (two developers' checkouts, or parallel work) keep apart.
E2E_DIR = Path(os.environ.get("ELK_E2E_DIR") or PROJECT_DIR / "build" / "e2e")
CLUSTER_DIR = E2E_DIR / "cluster"
# What `pulumi up` needs from the project; the rest (tests, build/) stays out of the copy.
PULUMI_TIMEOUT = 1200
# kwok turns an Elasticsearch pod of this version Ready only after SLOW_READY_SECONDS
# (tools/e2e/stages/slow-ready.yaml): a roll that lasts, for the scenarios that watch one
# or fault it. Other scenarios keep off this version.
SLOW_VERSION = "9.4.5"
SLOW_READY_SECONDS = 6
# Everything the qa stack creates in its namespace, and the pods its workloads make.
STACK_KINDS = (
    "deployments",
    "statefulsets",
    "services",
    "secrets",
    "configmaps",
    "jobs",
    "networkpolicies",
    "ingresses",
    "poddisruptionbudgets",
    "serviceaccounts",
    "persistentvolumeclaims",
    "pods",
)
# What Kubernetes itself puts in every namespace.
SYSTEM_OBJECTS = {"configmaps/kube-root-ca.crt", "serviceaccounts/default"}
FIGURES: list[str] = []
CLAIMS: list[tuple[str, str, float]] = []
"""Per scenario: the documented promise it proves, its outcome, its wall time."""


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


@dataclass
class Cluster:
    """The running control plane: its directory and the environment its env file sets."""

    directory: Path
    env: dict[str, str]

    def kubectl(self, *args: str, kubeconfig: Path | None = None, check: bool = True) -> str:
        env = dict(self.env)
        if kubeconfig is not None:
            env["KUBECONFIG"] = str(kubeconfig)
        result = subprocess.run(
            ["kubectl", *args], env=env, capture_output=True, text=True, check=False, timeout=120
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {_tail(result.stderr)}")
        return result.stdout

    def get_json(self, *args: str, kubeconfig: Path | None = None) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json", kubeconfig=kubeconfig))

    def namespace(self, name: str, *quota: str) -> Path:
        """A pre-allocated namespace and its user, as `make cluster-namespace` hands them out."""
        options = [f"--quota={item}" for item in quota]
        cluster_command("namespace", name, *options)
        return self.directory / f"{name}.kubeconfig"


def cluster_command(*args: str) -> None:
    command = [sys.executable, "-m", "tools.e2e.cluster", "--dir", str(CLUSTER_DIR), *args]
    result = subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command[2:])} failed:\n{_tail(result.stdout + result.stderr)}")


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    missing = [str(tool.path) for tool in build.all_tools() if not tool.is_built()]
    if missing:
        pytest.fail(f"the e2e tools are not built ({missing[0]} is missing): run `make e2e-tools`")
    if CLUSTER_DIR.exists():
        cluster_command("down", "--purge")
    for leftover in ("state", "projects", "render"):
        shutil.rmtree(E2E_DIR / leftover, ignore_errors=True)
    cluster_command("up")
    try:
        yield Cluster(CLUSTER_DIR, read_env_file(CLUSTER_DIR / "env"))
    finally:
        cluster_command("down")


@dataclass
class Stack:
    """One Pulumi stack of the project, in a scratch copy of it, deployed as one namespace's user."""

    name: str
    config: dict[str, Any]
    project: Path
    env: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return str(self.config["elk-stack:namespace"])

    @property
    def kubeconfig(self) -> Path:
        """The kubeconfig the stack deploys with: its namespace's user, or the admin's."""
        return Path(self.env["KUBECONFIG"])

    @property
    def config_file(self) -> Path:
        return self.project / f"Pulumi.{self.name}.yaml"

    def write_config(self) -> None:
        """Write the stack file, keeping the `encryptionsalt` that `pulumi stack init` added."""
        document: dict[str, Any] = {"config": self.config}
        if self.config_file.exists():
            salt = (yaml.safe_load(self.config_file.read_text()) or {}).get("encryptionsalt")
            if salt:
                document["encryptionsalt"] = salt
        self.config_file.write_text(yaml.safe_dump(document, sort_keys=False))

    def pulumi(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run one `pulumi` command on this stack; time it; fail with its output's tail."""
        command = ["pulumi", *args, "--stack", self.name, "--non-interactive", "--color", "never"]
        start = time.monotonic()
        result = subprocess.run(
            command,
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=PULUMI_TIMEOUT,
        )
        self.timings[args[0]] = time.monotonic() - start
        if check and result.returncode != 0:
            raise AssertionError(
                f"`{' '.join(command)}` exited {result.returncode}:\n{_tail(result.stdout + result.stderr)}"
            )
        return result

    def set_config(self, key: str, value: Any) -> None:
        """Change one top-level config key (e.g. `elk-stack:version`) and rewrite the stack file."""
        self.config[key] = value
        self.write_config()

    def planned_operations(self) -> list[tuple[str, str]]:
        """`pulumi preview --json`: (operation, URN) of every step that is not `same`."""
        result = self.pulumi("preview", "--json")
        steps = json.loads(result.stdout).get("steps", [])
        return [(step["op"], step["urn"]) for step in steps if step["op"] != "same"]

    def state(self) -> dict[str, Any]:
        """`pulumi stack export`: the engine's own record of every resource and its options."""
        exported = self.pulumi("stack", "export")
        return json.loads(exported.stdout)  # type: ignore[no-any-return]

    def run_render(self) -> subprocess.CompletedProcess[str]:
        """The offline render of the same config, as `make render` runs it."""
        command = [sys.executable, "-m", "tools.render", self.name, "--stack-file", str(self.config_file)]
        return subprocess.run(
            [*command, "--out", str(E2E_DIR / "render")],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=False,
        )

    def render(self) -> Path:
        """Render the stack; the directory of its manifests and resources.json."""
        result = self.run_render()
        assert result.returncode == 0, result.stderr
        return E2E_DIR / "render" / self.name


def scratch_project(name: str) -> Path:
    """A copy of the project made of links, so stack files and state never land in the repo."""
    return linked_project(E2E_DIR / "projects" / name)


def stack_from_file(
    cluster: Cluster, name: str, stack_file: str, namespace: str, kubeconfig: Path, **overrides: Any
) -> Stack:
    """A new stack with `stack_file`'s config, moved into `namespace`, with `overrides` applied."""
    config = config_in_namespace(PROJECT_DIR / stack_file, namespace)
    config.update(overrides)
    env = {
        **cluster.env,
        "KUBECONFIG": str(kubeconfig),
        "PULUMI_BACKEND_URL": f"file://{E2E_DIR / 'state'}",
    }
    (E2E_DIR / "state").mkdir(parents=True, exist_ok=True)
    stack = Stack(name, config, scratch_project(name), env)
    stack.write_config()
    stack.pulumi("stack", "init")
    return stack


def run_tool(tool: str, stack: Stack, *flags: str) -> subprocess.CompletedProcess[str]:
    """What `make <target> STACK=<stack> ARGS=<flags>` runs (`tools/<tool>.py`), in the stack's project."""
    command = [sys.executable, "-m", f"tools.{tool}", stack.name, "--cwd", str(stack.project)]
    return subprocess.run(
        [*command, *flags, "--non-interactive", "--color", "never"],
        cwd=PROJECT_DIR,
        env=stack.env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def uids(cluster: Cluster, kind: str, namespace: str, selector: str = "") -> dict[str, str]:
    """Name to UID of every object of `kind` in `namespace` (optionally by label selector)."""
    args = [kind, "-n", namespace] + (["-l", selector] if selector else [])
    return {item["metadata"]["name"]: item["metadata"]["uid"] for item in cluster.get_json(*args)["items"]}


def object_uids(cluster: Cluster, namespace: str) -> dict[str, str]:
    """`kind/name` to UID of every object of the stacks' kinds (and every pod) in `namespace`."""
    found = {
        f"{kind}/{name}": uid for kind in STACK_KINDS for name, uid in uids(cluster, kind, namespace).items()
    }
    return {key: uid for key, uid in found.items() if key not in SYSTEM_OBJECTS}


def pod_uids(cluster: Cluster, namespace: str, component: str) -> dict[str, str]:
    """The pods of one component (`elasticsearch`, `logstash`, `kibana`), name to UID."""
    return uids(cluster, "pods", namespace, f"app.kubernetes.io/name={component}")


def claims(cluster: Cluster, namespace: str) -> dict[str, tuple[str, str, str]]:
    """Every claim in `namespace`: name to (UID, bound PV, reported capacity)."""
    return {
        item["metadata"]["name"]: (
            item["metadata"]["uid"],
            item["spec"].get("volumeName", ""),
            item.get("status", {}).get("capacity", {}).get("storage", ""),
        )
        for item in cluster.get_json("pvc", "-n", namespace)["items"]
    }


def wait_until(check: Callable[[], bool], what: str, timeout: float = 180, interval: float = 1) -> None:
    """Poll `check` until it is true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def engine_events(stream: str) -> list[dict[str, Any]]:
    """`pulumi up --json`: the engine's events, one JSON object a line, in the order emitted."""
    lines = [json.loads(line) for line in stream.splitlines() if line.strip().startswith("{")]
    return sorted(lines, key=lambda event: event.get("sequence", 0))


def event_time(log: list[dict[str, Any]], kind: str, urn_suffix: str) -> float:
    """When the engine emitted the first `kind` event of the resource whose URN ends so."""
    for event in log:
        if ((event.get(kind) or {}).get("metadata") or {}).get("urn", "").endswith(urn_suffix):
            return float(event["timestamp"])
    raise AssertionError(f"no {kind} for {urn_suffix}")


def resource_type(urn: str) -> str:
    return urn.split("::")[2].split("$")[-1]


def is_program_resource(resource: dict[str, Any]) -> bool:
    kind = resource["type"]
    return kind != "pulumi:pulumi:Stack" and not kind.startswith("pulumi:providers:")


def is_job_pod(pod: dict[str, Any]) -> bool:
    return any(owner["kind"] == "Job" for owner in pod["metadata"].get("ownerReferences", []))


def condition(obj: dict[str, Any], kind: str) -> bool:
    return any(c["type"] == kind and c["status"] == "True" for c in obj["status"].get("conditions", []))


def name(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["name"])


def record_figure(line: str) -> None:
    """A measured figure, printed in the run's summary (docs/local-cluster.md quotes them)."""
    FIGURES.append(line)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "claim(text): the documented promise that a scenario proves")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Remember each claimed scenario's outcome and wall time for the summary."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    marker = item.get_closest_marker("claim")
    if marker is not None and (report.when == "call" or report.outcome != "passed"):
        CLAIMS.append((str(marker.args[0]), report.outcome, report.duration))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The figures, then each documented promise with whether this run proved it."""
    for line in FIGURES:
        terminalreporter.write_line(f"e2e figures: {line}")
    for claim, outcome, seconds in CLAIMS:
        verdict = "proven" if outcome == "passed" else f"NOT proven ({outcome})"
        terminalreporter.write_line(f"e2e: {verdict} in {seconds:.1f} s: {claim}")
