"""The real-Elasticsearch tier: real nodes started from the program's render (`make test-real`).

Nothing here is a fake Elasticsearch except where `standins` says so and the summary lists
it: the nodes are Elastic's own test distribution, started from the rendered pods' files,
environment and command (tools/real_es). Without root, a JDK 21+ or the distribution, the
session stops at once with one line that says which.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.real import standins
from tools.real_es import distribution, runner
from tools.real_es.network import AddressMap, AddressPool, service_names
from tools.real_es.stack import JobRun, RealStack
from tools.render import PROJECT_DIR, stack_config

WORK_DIR = PROJECT_DIR / "build" / "real"
STACK_FILES = Path(__file__).parent / "stacks"
POOL = AddressPool()
SETUP_JOB = "elk-elasticsearch-setup"
# The tier's budget on a 2-core machine, downloads excluded (docs/testing.md).
BUDGET_SECONDS = 11 * 60
STARTED: list[float] = []


def pytest_configure(config: pytest.Config) -> None:
    """Stop the session with one clear line when the tier cannot run here."""
    try:
        runner.require_root()
        distribution.java_home()
        for version in (distribution.DEFAULT_VERSION, distribution.UPGRADE_FROM_VERSION):
            distribution.home(version)
    except (runner.RunnerError, distribution.DistributionError) as error:
        pytest.exit(f"real-Elasticsearch tier cannot run: {error}", returncode=1)
    shutil.rmtree(WORK_DIR, ignore_errors=True)
    STARTED.append(time.monotonic())


def elapsed() -> float:
    """Seconds since the downloads were done."""
    return time.monotonic() - STARTED[0] if STARTED else 0.0


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Over budget is a failure: a slow tier stops being run."""
    if elapsed() > BUDGET_SECONDS and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """What the tier did not prove on a real node, and how long it took."""
    terminalreporter.section("unproven: answered or changed outside the real node")
    for line in standins.UNPROVEN or ["nothing"]:
        terminalreporter.write_line(line)
    terminalreporter.write_line(
        "Logstash and Kibana themselves never run here: their requests are replayed (tests/real)."
    )
    over = f", over its budget of {BUDGET_SECONDS} s: FAILED" if elapsed() > BUDGET_SECONDS else ""
    terminalreporter.write_line(f"real-Elasticsearch tier: {elapsed():.0f} s{over}")


def open_stack(name: str, stack_file: Path | None = None) -> RealStack:
    """A stack from `Pulumi.<name>.yaml` (or a tier stack file), in its own workspace and namespace."""
    config = stack_config(name, path=stack_file)
    workspace = runner.Workspace(WORK_DIR / name, AddressMap(POOL))
    return RealStack(name, config, workspace)


def start_first_nodes(stacks: list[RealStack]) -> list[RealStack]:
    """Render stacks and start their first Elasticsearch node each, side by side, until each is Ready.

    Starting two nodes together costs little more than one on these machines: much of a
    start is waiting.
    """
    for stack in stacks:
        stack.render()
        stack.start([stack.node(0)], wait=False)
    for stack in stacks:
        stack.wait_ready()
    return stacks


def start_single_nodes(*stacks: tuple[str, Path | None]) -> list[RealStack]:
    """Open stacks (`Pulumi.<name>.yaml` or a tier stack file) and start their one node each."""
    return start_first_nodes([open_stack(name, stack_file) for name, stack_file in stacks])


def start_single_node(name: str, stack_file: Path | None = None) -> RealStack:
    """Render a stack and start its one Elasticsearch node until its readiness probe passes."""
    [stack] = start_single_nodes((name, stack_file))
    return stack


@pytest.fixture(scope="session")
def shipped() -> Iterator[dict[str, RealStack]]:
    """The one node of Pulumi.qa.yaml and of Pulumi.test.yaml, started together."""
    stacks = start_single_nodes(("qa", None), ("test", None))
    yield {stack.name: stack for stack in stacks}
    for stack in stacks:
        stack.stop_all()


@pytest.fixture(scope="session")
def qa(shipped: dict[str, RealStack]) -> RealStack:
    """Pulumi.qa.yaml's one node, shared by every test of the session that reads qa."""
    return shipped["qa"]


@pytest.fixture(scope="session")
def test_stack(shipped: dict[str, RealStack]) -> RealStack:
    """Pulumi.test.yaml's one node."""
    return shipped["test"]


@pytest.fixture(scope="session")
def snapshot_source() -> Iterator[RealStack]:
    """One node with an fs snapshot repository (tier stack file snapshot-source.yaml), set up by its Job."""
    stack = start_single_node("snapshot-source", STACK_FILES / "snapshot-source.yaml")
    run = run_setup(stack)
    assert run.returncode == 0, run.output
    yield stack
    stack.stop_all()


@pytest.fixture(params=["qa", "test"])
def secured(request: pytest.FixtureRequest) -> RealStack:
    """Each shipped stack file's node in turn: every secured render must work."""
    stack: RealStack = request.getfixturevalue("qa" if request.param == "qa" else "test_stack")
    return stack


def run_setup(stack: RealStack, env: dict[str, str] | None = None, timeout: float = 300) -> JobRun:
    """The setup Job's container against the real node, behind the stand-ins for what it lacks."""
    standins.install_built_in_templates(stack)
    job = stack.find("Job", SETUP_JOB)
    url = next(
        e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"] if e["name"] == "ES_URL"
    )
    host = url.split("://", 1)[1].split(":", 1)[0]
    service, namespace = host.split(".")[:2]
    node = next(iter(p for p in stack.running if p.startswith("elk-elasticsearch")))
    proxy, server = standins.start_proxy(stack, node, host)
    try:
        names = {name: [proxy.address] for name in service_names(service, namespace)}
        return stack.run_job(SETUP_JOB, env=env, host_overrides=names, timeout=timeout)
    finally:
        server.shutdown()
        server.server_close()
