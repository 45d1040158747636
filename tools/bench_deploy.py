"""Deploy benchmark: `pulumi up` beside the same objects applied with kubectl, on the local control plane.

    python -m tools.bench_deploy [--case qa|large ...] [--parallel N] [--runs N] [--unsaved]

Each case deploys a stack three times, each into a fresh namespace as its namespace-only
user, on a control plane of its own (build/bench-deploy/cluster):

1. `pulumi up --skip-preview` with `make up`'s `--parallel`, then a no-op `up`;
2. the flat floor: the very objects that `up` applied (read back from the stack's state),
   in one `kubectl apply --server-side`, then `kubectl rollout status` / `kubectl wait` for
   every workload and Job at once;
3. the ordered floor: the same objects in waves that follow the program's dependency
   order on a first deploy (the state as the first `up` left it). An object goes in the
   wave after the longest chain of awaited workloads and Jobs it depends on (through any
   chain of resources in the state); an object with none goes in the first. Each wave
   waits for the whole wave before it, so an object may also wait for workloads it does
   not depend on: this floor is at or above the dependency order's own critical path,
   and `up` over it flatters `up`.

It prints ratios rather than seconds (the machine's speed cancels out), and where `up`'s
time went, from the engine's event log stamped as each event arrived. It is a benchmark
and asserts nothing: issue targets are read off its table (docs/development.md).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tools.e2e.control_plane import down, up
from tools.e2e.layout import ClusterError, Layout, config_in_namespace, linked_project, read_env_file
from tools.e2e.namespaces import namespace
from tools.stack_command import exported_state
from tools.up import PARALLEL

PROJECT_DIR = Path(__file__).resolve().parent.parent
BENCH_DIR = PROJECT_DIR / "build" / "bench-deploy"
CASES = {"qa": "Pulumi.qa.yaml", "large": "benchmarks/large.yaml"}
# The large stack asks for 40 CPUs and 160Gi for its data nodes alone: a namespace that fits it.
LARGE_QUOTA = (
    "requests.cpu=96",
    "limits.cpu=192",
    "requests.memory=384Gi",
    "limits.memory=384Gi",
    "requests.storage=4Ti",
    "pods=100",
    "persistentvolumeclaims=100",
)
WAITED = {"StatefulSet", "Deployment", "Job"}
WAIT_TIMEOUT = "300s"
# What `up` may cost over the floors (docs/development.md, "Deploy benchmark").
TARGETS: dict[str, dict[str, float]] = {"qa": {"ordered": 1.5, "flat": 3.0}, "large": {"ordered": 1.3}}
NOOP_ABOVE_STARTUP = 2.0


@dataclass
class Timed:
    """One engine event, stamped with the seconds since `pulumi up` started when it arrived."""

    at: float
    event: dict[str, Any]


@dataclass
class UpRun:
    """One `pulumi up`: its wall time, its children's CPU time and its stamped events."""

    seconds: float
    cpu: float
    events: list[Timed] = field(default_factory=list)

    @property
    def startup(self) -> float:
        """Seconds until the engine registered the first resource: CLI, language host, imports."""
        return next((t.at for t in self.events if "resourcePreEvent" in t.event), self.seconds)


def follow(path: Path, into: list[Timed], start: float, done: threading.Event) -> None:
    """Read the event log as the engine writes it, stamping each line on arrival."""
    while not path.exists() and not done.is_set():
        time.sleep(0.01)
    if not path.exists():
        return
    with path.open() as log:
        pending = ""
        while True:
            chunk = log.readline()
            if chunk:
                pending += chunk
                if pending.endswith("\n"):
                    into.append(Timed(time.monotonic() - start, json.loads(pending)))
                    pending = ""
                continue
            if done.is_set():
                return
            time.sleep(0.01)


def timed_up(project: Path, env: dict[str, str], stack: str, *flags: str) -> UpRun:
    """`pulumi up --yes` with the event log followed as it grows; fails loudly if `up` fails."""
    log = project / f"events-{time.monotonic_ns()}.json"
    command = ["pulumi", "up", "--stack", stack, "--yes", "--non-interactive", "--color", "never"]
    events: list[Timed] = []
    done = threading.Event()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    reader = threading.Thread(target=follow, args=(log, events, start, done), daemon=True)
    reader.start()
    result = subprocess.run(
        [*command, *flags, "--event-log", str(log)],
        cwd=project,
        env={**env, "PULUMI_DEBUG_COMMANDS": "true"},
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - start
    done.set()
    reader.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise ClusterError(f"`pulumi up` failed:\n{(result.stdout + result.stderr)[-3000:]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return UpRun(seconds, cpu, events)


@dataclass(frozen=True)
class Applied:
    """A Kubernetes object from the stack's state, by its URN."""

    urn: str
    manifest: dict[str, Any]

    @property
    def kind(self) -> str:
        """The object's kind, e.g. StatefulSet."""
        return str(self.manifest["kind"])

    @property
    def name(self) -> str:
        """The object's own name in the namespace."""
        return str(self.manifest["metadata"]["name"])


SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"
"""The key that marks a secret value in Pulumi's state (sdk/go/common/resource/sig)."""


def revealed(value: Any) -> Any:
    """A state value with its secrets as plain values (`stack export --show-secrets` still wraps them)."""
    if isinstance(value, dict):
        if SECRET_SIGNATURE in value and "plaintext" in value:
            return revealed(json.loads(value["plaintext"]))
        return {key: revealed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [revealed(item) for item in value]
    return value


def state_objects(state: dict[str, Any]) -> tuple[list[Applied], dict[str, dict[str, Any]]]:
    """The Kubernetes objects `up` applied (their inputs), and every resource of the state by URN."""
    resources = {r["urn"]: r for r in state["deployment"]["resources"]}
    objects = [
        Applied(urn, revealed(r["inputs"]))
        for urn, r in resources.items()
        if r["type"].startswith("kubernetes:") and r.get("custom") and "apiVersion" in (r.get("inputs") or {})
    ]
    return objects, resources


def waves(objects: list[Applied], resources: dict[str, dict[str, Any]]) -> list[list[Applied]]:
    """The objects grouped by how many awaited workloads or Jobs stand before them in the program.

    A dependency on a component is a dependency on everything under it, as in the engine.
    """
    children: dict[str, list[str]] = {}
    for urn, r in resources.items():
        if r.get("parent"):
            children.setdefault(r["parent"], []).append(urn)
    awaited = {o.urn for o in objects if o.kind in WAITED}
    memo: dict[str, int] = {}

    def expanded(urn: str) -> Iterable[str]:
        yield urn
        for child in children.get(urn, ()):
            yield from expanded(child)

    def depth(urn: str) -> int:
        if urn not in memo:
            memo[urn] = 0
            deps = [
                d for u in resources[urn].get("dependencies") or () for d in expanded(u) if d in resources
            ]
            memo[urn] = max((depth(d) + (d in awaited) for d in deps), default=0)
        return memo[urn]

    grouped: dict[int, list[Applied]] = {}
    for applied in objects:
        grouped.setdefault(depth(applied.urn), []).append(applied)
    return [grouped[level] for level in sorted(grouped)]


def kubectl(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """Start one kubectl; the floor runs its waits side by side, as the engine does."""
    return subprocess.Popen(
        ["kubectl", *args], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def finish(processes: list[subprocess.Popen[str]]) -> None:
    """Wait for every process; a failed one ends the benchmark with its own message."""
    for process in processes:
        out, err = process.communicate()
        if process.returncode != 0:
            raise ClusterError(f"kubectl failed: {err.strip() or out.strip()}")


def wait_commands(objects: list[Applied]) -> list[list[str]]:
    """The kubectl command that waits for each workload's rollout or Job's completion."""
    commands = []
    for applied in objects:
        if applied.kind == "Job":
            commands.append(
                ["wait", "--for=condition=complete", f"job/{applied.name}", f"--timeout={WAIT_TIMEOUT}"]
            )
        elif applied.kind in WAITED:
            commands.append(
                ["rollout", "status", f"{applied.kind.lower()}/{applied.name}", f"--timeout={WAIT_TIMEOUT}"]
            )
    return commands


def apply_wave(
    env: dict[str, str], directory: Path, index: int, objects: list[Applied], namespace_name: str
) -> None:
    """One `kubectl apply --server-side` of the wave's objects, then every wait at once."""
    manifests = []
    for applied in objects:
        manifest = json.loads(json.dumps(applied.manifest))
        manifest["metadata"]["namespace"] = namespace_name
        manifests.append(manifest)
    path = directory / f"wave-{index}.yaml"
    path.write_text(yaml.safe_dump_all(manifests))
    finish([kubectl(env, "apply", "--server-side", "-n", namespace_name, "-f", str(path))])
    finish([kubectl(env, "-n", namespace_name, *command) for command in wait_commands(objects)])


def timed_floor(
    env: dict[str, str], directory: Path, grouped: list[list[Applied]], namespace_name: str
) -> float:
    """Seconds to apply the waves one after another into `namespace_name`, each waited for."""
    directory.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    for index, objects in enumerate(grouped):
        apply_wave(env, directory, index, objects, namespace_name)
    return time.monotonic() - start


def delete_namespace(layout: Layout, env: dict[str, str], name: str) -> None:
    """Delete a namespace as the cluster's admin and wait until its pods and claims are gone."""
    command = ["kubectl", "--kubeconfig", str(layout.kubeconfig("admin")), "delete", "namespace", name]
    subprocess.run([*command, "--wait=true", "--timeout=300s"], env=env, capture_output=True, check=True)


def scratch_project(case: str, namespace_name: str) -> Path:
    """A copy of the project (links) with stack `namespace_name`: the case's config, in that namespace."""
    project = linked_project(BENCH_DIR / "projects" / namespace_name)
    config = config_in_namespace(PROJECT_DIR / CASES[case], namespace_name)
    stack_file = project / f"Pulumi.{namespace_name}.yaml"
    stack_file.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return project


@dataclass
class CaseResult:
    """One case's figures from one run."""

    up: UpRun
    noop: UpRun
    flat: float
    ordered: float
    resources: int
    objects: int
    waves: int
    unsaved: UpRun | None = None


def revealed_state(project: Path, env: dict[str, str], stack: str) -> dict[str, Any]:
    """The stack's state, secrets in the clear: the floors apply the very Secrets `up` made."""
    state = exported_state(stack, project, "--show-secrets", env=env)
    if isinstance(state, str):
        raise ClusterError(f"`pulumi stack export` failed: {state}")
    return state


def case_quota(case: str) -> list[str]:
    """The quota overrides of a case's namespaces: the large cluster's, or none."""
    return list(LARGE_QUOTA) if case == "large" else []


def new_stack(layout: Layout, case: str, name: str) -> tuple[Path, dict[str, str]]:
    """A stack named after its fresh namespace, in one state backend: its project and environment."""
    namespace(layout, name, case_quota(case))
    env = read_env_file(layout.env_file)
    project = scratch_project(case, name)
    env["KUBECONFIG"] = str(layout.kubeconfig(name))
    env["PULUMI_BACKEND_URL"] = f"file://{BENCH_DIR / 'state'}"
    (BENCH_DIR / "state").mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["pulumi", "stack", "init", name, "--non-interactive"],
        cwd=project,
        env=env,
        capture_output=True,
        check=True,
    )
    return project, env


def run_case(layout: Layout, case: str, run: int, parallel: int, unsaved: bool) -> CaseResult:
    """Deploy the case with `pulumi up`, then its two floors, each in a fresh namespace.

    With `unsaved`, one more `up` in a namespace of its own with PULUMI_SKIP_CHECKPOINTS:
    what the engine's writes of the whole state, at each step's start and end, cost.
    """
    names = [f"bench-{case}-{run}-{part}" for part in ("up", "flat", "ordered")]
    stack = names[0]
    project, env = new_stack(layout, case, stack)
    for name in names[1:]:
        namespace(layout, name, case_quota(case))
    flags = ("--skip-preview", f"--parallel={parallel}")
    deployed = timed_up(project, env, stack, *flags)
    # Read before the no-op `up`, which records an existing cluster's order (node sets after
    # the topology `leave` Job, masters last): the floors follow the first deploy's.
    objects, resources = state_objects(revealed_state(project, env, stack))
    noop = timed_up(project, env, stack, *flags)
    grouped = waves(objects, resources)
    floors = []
    for previous, name, shape in zip(names, names[1:], ([objects], grouped), strict=False):
        # The nodes hold one large stack at a time: the one before goes first (not timed).
        delete_namespace(layout, env, previous)
        floor_env = {**env, "KUBECONFIG": str(layout.kubeconfig(name))}
        floors.append(timed_floor(floor_env, BENCH_DIR / "floors" / name, shape, name))
    delete_namespace(layout, env, names[-1])
    result = CaseResult(deployed, noop, floors[0], floors[1], len(resources), len(objects), len(grouped))
    if unsaved:
        name = f"bench-{case}-{run}-unsaved"
        project, env = new_stack(layout, case, name)
        result.unsaved = timed_up(project, {**env, "PULUMI_SKIP_CHECKPOINTS": "true"}, name, *flags)
        delete_namespace(layout, env, name)
    return result


def step_spans(run: UpRun) -> list[tuple[float, float, str]]:
    """(start, end, type and name) of every resource step, from its pre and outputs events."""
    starts: dict[str, float] = {}
    spans = []
    for timed in run.events:
        pre = (timed.event.get("resourcePreEvent") or {}).get("metadata")
        if pre:
            starts[pre["urn"]] = timed.at
        done = (timed.event.get("resOutputsEvent") or {}).get("metadata")
        # Components have no provider; their span is only that of their last child.
        if done and done["urn"] in starts and done.get("provider"):
            label = f"{done['type'].split(':')[-1]} {done['urn'].split('::')[-1]}"
            spans.append((starts[done["urn"]], timed.at, label))
    return spans


def where_time_goes(run: UpRun, top: int = 8) -> list[str]:
    """Start-up, the longest steps, and the tail after the last step."""
    spans = step_spans(run)
    last = max((end for _, end, _ in spans), default=run.seconds)
    lines = [f"  start-up (CLI, language host, program imports): {run.startup:5.1f} s"]
    for start, end, label in sorted(spans, key=lambda s: s[0] - s[1])[:top]:
        lines.append(f"  {end - start:5.1f} s  {start:5.1f} → {end:5.1f}  {label}")
    lines.append(f"  after the last step (summary, state write, exit): {run.seconds - last:5.1f} s")
    return lines


def report(case: str, results: list[CaseResult]) -> list[str]:
    """The ratios against the issue's targets, then the seconds behind them and the first run's steps."""

    def median(values: Iterable[float]) -> float:
        return statistics.median(list(values))

    up_s = median(r.up.seconds for r in results)
    flat = median(r.flat for r in results)
    ordered = median(r.ordered for r in results)
    noop = median(r.noop.seconds for r in results)
    startup = median(r.noop.startup for r in results)
    first = results[0]
    targets = TARGETS[case]
    lines = [
        f"{case}: {first.resources} resources, {first.objects} Kubernetes objects, {first.waves} waves in "
        f"dependency order; median of {len(results)} run(s)",
        verdict("up / ordered floor", up_s / ordered, targets.get("ordered"), "x"),
        verdict("up / flat floor", up_s / flat, targets.get("flat"), "x"),
        verdict("no-op up above its start-up", noop - startup, NOOP_ABOVE_STARTUP, " s"),
        f"  up {up_s:.1f} s ({median(r.up.cpu for r in results):.1f} s CPU), ordered floor {ordered:.1f} s, "
        f"flat floor {flat:.1f} s, no-op up {noop:.1f} s (start-up {startup:.1f} s)",
        *unsaved_line(results),
        "  where the first run's up spent its time:",
        *where_time_goes(first.up),
    ]
    return lines


def unsaved_line(results: list[CaseResult]) -> list[str]:
    """`up` without state checkpoints, if it ran: a diagnosis, never a way to deploy."""
    unsaved = [r.unsaved.seconds for r in results if r.unsaved is not None]
    if not unsaved:
        return []
    seconds = statistics.median(unsaved)
    return [f"  up without state checkpoints {seconds:.1f} s (diagnosis only: never deploy so)"]


def verdict(what: str, value: float, target: float | None, unit: str) -> str:
    """One figure beside its target, if it has one."""
    if target is None:
        return f"  {what:30s} {value:5.1f}{unit}"
    met = "met" if value <= target else "MISSED"
    return f"  {what:30s} {value:5.1f}{unit}  (target at most {target:g}{unit}: {met})"


def write_steps(path: Path, run: UpRun) -> Path:
    """Every step of one `up`, by start, for reading the critical path by eye."""
    path.write_text("".join(f"{a:6.2f} → {b:6.2f}  {label}\n" for a, b, label in sorted(step_spans(run))))
    return path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The cases, `--parallel` and the number of runs."""
    parser = argparse.ArgumentParser(prog="python -m tools.bench_deploy", description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="default: qa and large")
    parser.add_argument("--parallel", type=int, default=PARALLEL, help=f"default: make up's ({PARALLEL})")
    parser.add_argument("--runs", type=int, default=1, help="runs per case; the report gives medians")
    parser.add_argument(
        "--unsaved",
        action="store_true",
        help="also time an `up` with PULUMI_SKIP_CHECKPOINTS, to see what the engine's state writes cost",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Start a control plane of its own, run each case, report, and stop the control plane."""
    args = parse_args(argv)
    layout = Layout(BENCH_DIR / "cluster")
    if layout.root.exists():
        down(layout, purge=True)
    shutil.rmtree(BENCH_DIR, ignore_errors=True)
    try:
        up(layout)
        for case in args.case or ["qa", "large"]:
            results = [run_case(layout, case, run, args.parallel, args.unsaved) for run in range(args.runs)]
            print("\n".join(report(case, results)), flush=True)
            for kind, run in (("up", results[0].up), ("no-op", results[0].noop)):
                steps = write_steps(BENCH_DIR / f"{case}-{kind}-steps.txt", run)
                print(f"  every step of the first {kind} up, by start: {steps.relative_to(PROJECT_DIR)}")
    except (ClusterError, subprocess.CalledProcessError) as error:
        print(f"bench-deploy: {error}", file=sys.stderr)
        return 1
    finally:
        down(layout, purge=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
