"""One rendered stack on real nodes: render it, start its pods, run its Jobs, talk to it.

`RealStack` keeps what `pulumi up` would keep between deploys (the generated secrets, in
`state`), so a second render of the same stack (a new version, a node set changed) has the
same CA and passwords, and the claims of its pods (in the workspace) outlive their pods.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from components.specs.elasticsearch import PRE_STOP_SECONDS
from tools.real_es import pods, runner
from tools.real_es.client import Answer, Client
from tools.real_es.network import point_services
from tools.real_es.secrets import State, render_with_secrets
from tools.render import Rendered

ES_WORKLOAD = "StatefulSet"
READY_SECONDS = 180


@dataclass(frozen=True)
class JobRun:
    """How one run of a Job's container ended: its exit status, output and duration."""

    returncode: int
    output: str
    seconds: float


@dataclass
class RealStack:
    """A stack's render and the pods of it that run on this machine."""

    name: str
    config: dict[str, str]
    workspace: runner.Workspace
    state: State = field(default_factory=dict)
    rendered: Rendered = field(default_factory=Rendered)
    running: dict[str, runner.Running] = field(default_factory=dict)

    def render(self, **overrides: str) -> Rendered:
        """Render the stack (with `overrides`, flat `elk-stack:*` keys) with its kept secrets."""
        config = {**self.config, **{f"elk-stack:{key}": value for key, value in overrides.items()}}
        self.rendered = render_with_secrets(config, self.name, self.state)
        return self.rendered

    @property
    def manifests(self) -> list[dict[str, Any]]:
        """The latest render's manifests."""
        return self.rendered.manifests

    def find(self, kind: str, name: str) -> dict[str, Any]:
        """One manifest of the latest render."""
        return pods.find(self.manifests, kind, name)

    def secret(self, name: str) -> dict[str, str]:
        """A Secret's values in the latest render."""
        return pods.secret_values(self.find("Secret", name))

    def config_file(self, config_map: str, key: str) -> str:
        """One file of a ConfigMap in the latest render."""
        data: dict[str, str] = self.find("ConfigMap", config_map)["data"]
        return data[key]

    def workloads(self, kind: str) -> list[str]:
        """The names of the latest render's workloads of `kind`."""
        return [m["metadata"]["name"] for m in self.manifests if m["kind"] == kind]

    def announce(self, containers: Sequence[pods.Container]) -> None:
        """Give pods addresses and point the Services at them before they start (as endpoints do)."""
        addresses = self.workspace.addresses
        for container in containers:
            addresses.add_pod(container.pod)
            addresses.labels[container.pod] = self._workload_of(container)["spec"]["template"][
                "metadata"
            ].get("labels", {})
        point_services(addresses, self.manifests)
        self.workspace.refresh_hosts()

    def _workload_of(self, container: pods.Container) -> dict[str, Any]:
        kinds = ("StatefulSet", "Deployment", "Job")
        return max(
            (
                m
                for m in self.manifests
                if m["kind"] in kinds and container.pod.startswith(m["metadata"]["name"])
            ),
            key=lambda m: len(m["metadata"]["name"]),
        )

    def node(self, ordinal: int, workload: str | None = None) -> pods.Container:
        """An Elasticsearch pod of the latest render (the first node set's unless named)."""
        name = workload or self.node_sets()[0]
        return pods.container(self.manifests, ES_WORKLOAD, name, ordinal=ordinal)

    def node_sets(self) -> list[str]:
        """The Elasticsearch StatefulSets of the latest render."""
        return [n for n in self.workloads(ES_WORKLOAD) if "elasticsearch" in n]

    def all_nodes(self) -> list[pods.Container]:
        """Every Elasticsearch pod the latest render declares."""
        return [
            self.node(ordinal, name)
            for name in self.node_sets()
            for ordinal in range(self.find(ES_WORKLOAD, name)["spec"]["replicas"])
        ]

    def start(self, containers: Sequence[pods.Container], *, wait: bool = True) -> list[runner.Running]:
        """Start pods together (as a Parallel StatefulSet does) and wait until each is Ready."""
        self.announce(containers)
        started = [runner.start(container, self.workspace) for container in containers]
        self.running.update({r.container.pod: r for r in started})
        if wait:
            for running in started:
                runner.wait_until(running, "readiness", READY_SECONDS)
        return started

    def wait_ready(self) -> None:
        """Wait until every running pod's readiness probe passes."""
        for running in self.running.values():
            runner.wait_until(running, "readiness", READY_SECONDS)

    def pre_stop(self, pod: str, wait_seconds: int = 0) -> str:
        """Run a pod's preStop hook as a deletion does first, its wait shortened; its output."""
        running = self.running[pod]
        command = running.container.pre_stop
        assert command is not None, f"{pod} has no exec preStop hook"
        words = list(command)
        words[words.index(str(PRE_STOP_SECONDS))] = str(wait_seconds)
        result = running.exec(words, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def stop(self, pod: str) -> int:
        """Stop one pod (SIGTERM, as a deletion), and take it out of its Services; its claims stay."""
        status = self.running.pop(pod).stop()
        self.workspace.addresses.labels.pop(pod, None)
        point_services(self.workspace.addresses, self.manifests)
        self.workspace.refresh_hosts()
        return status

    def stop_all(self) -> None:
        """Stop every pod of the stack."""
        for pod in list(self.running):
            self.stop(pod)

    def run_job(
        self,
        name: str,
        *,
        env: dict[str, str] | None = None,
        host_overrides: dict[str, list[str]] | None = None,
        timeout: float = 300,
    ) -> JobRun:
        """Run a Job's container to its end (one attempt), with `env` replacing some of its variables."""
        container = pods.container(self.manifests, "Job", name)
        if env:
            container = pods.replace_env(container, env)
        self.announce([container])
        started = time.monotonic()
        running = runner.start(container, self.workspace, host_overrides=host_overrides)
        try:
            running.process.wait(timeout)
        except Exception:
            running.stop(5)
            raise
        return JobRun(
            running.process.returncode, running.log.read_text(errors="replace"), time.monotonic() - started
        )

    def job_names(self, prefix: str) -> list[str]:
        """The Jobs of the latest render whose name starts with `prefix`."""
        return [name for name in self.workloads("Job") if name.startswith(prefix)]

    def client(self, credentials_secret: str | None = None) -> Client:
        """A client with the stack's CA, logged in as the user of a credentials Secret."""
        ca = self.secret(self.ca_secret())["ca.crt"]
        client = Client(self.workspace.addresses, ca)
        if credentials_secret is None:
            return client
        values = self.secret(credentials_secret)
        return client.as_user(values["username"], values["password"])

    def ca_secret(self) -> str:
        """The Secret that holds the CA clients trust."""
        names: list[str] = [m["metadata"]["name"] for m in self.manifests if m["kind"] == "Secret"]
        return next(name for name in names if name.endswith("-ca"))

    def url(self, path: str) -> str:
        """A URL on the Elasticsearch client Service, as Logstash and Kibana are given it."""
        logstash = pods.container(self.manifests, "StatefulSet", self._logstash())
        return logstash.env["ELASTICSEARCH_HOSTS"].rstrip("/") + path

    def _logstash(self) -> str:
        return next(n for n in self.workloads("StatefulSet") if n.endswith("-logstash"))

    def request(
        self, method: str, path: str, body: Any = None, user: str = "elk-elastic-credentials"
    ) -> Answer:
        """One request to the client Service as the user of a credentials Secret (`elastic` by default)."""
        return self.client(user).request(method, self.url(path), body)
