"""Benchmark the offline render: time and memory of the qa stack, and of a large cluster.

The large cluster (benchmarks/large.yaml) shows that rendering grows with the program,
not with the number of nodes: it should stay within twice the qa time.

Each run is a fresh interpreter, as `make render` is, so imports and the Pulumi SDK's
start-up are part of the measurement. `os.wait4` gives each child's own resource usage,
so the peak RSS is that of one render, not of this process. It is a benchmark, not a test:
it reports against the targets and always exits 0 unless a render fails.

The import floor is what no render can go below: a fresh interpreter that only imports
the libraries a render loads (every module in `sys.modules` after one, but the project's
own) and exits. It is measured the same way, each floor run just before a render, so that
a machine busy with something else slows both alike; the render's time over its floor is
what the project's own code costs.

    python -m tools.bench [--stack qa] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 1.5
TARGET_RSS_MB = 200.0
LARGE_STACK_FILE = PROJECT_DIR / "benchmarks" / "large.yaml"
TARGET_LARGE_SECONDS = 2.0
TARGET_LARGE_RATIO = 2.0
TARGET_FLOOR_RATIO = 1.3
# The project's own top-level modules: what a render costs beyond its libraries.
OWN_MODULES = {"__main__", "__mp_main__", "components", "tools", "tests"}
# Run in a child: one render of argv[2:], then the library modules it loaded, into argv[1].
LIST_LIBRARIES = """
import json, runpy, sys
listing, sys.argv = sys.argv[1], ["tools.render", *sys.argv[2:]]
try:
    runpy.run_module("tools.render", run_name="__main__", alter_sys=True)
except SystemExit as exit:
    if exit.code:
        raise
own = set(%r)
names = sorted(name for name in sys.modules if name.split(".")[0] not in own)
with open(listing, "w") as stream:
    json.dump(names, stream)
"""
# Run in a child: import each module named in argv[1] (a few, such as `cython_runtime`, are
# made by other imports and cannot be imported by name).
IMPORT_LIBRARIES = """
import importlib, json, sys
with open(sys.argv[1]) as stream:
    names = json.load(stream)
for name in names:
    try:
        importlib.import_module(name)
    except ImportError:
        pass
"""


@dataclass(frozen=True)
class Sample:
    """One child process: its wall time, CPU time (user + system) and peak resident set size."""

    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    status: int


def max_rss_mb(ru_maxrss: int) -> float:
    """`ru_maxrss` in MB: Linux reports KiB, macOS bytes."""
    return ru_maxrss / 2**20 if sys.platform == "darwin" else ru_maxrss / 2**10


def run_child(command: list[str]) -> Sample:
    """Run one fresh interpreter to its end and measure that one child process."""
    # Files rather than pipes: a chatty child can never block on a full pipe buffer.
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        child = subprocess.Popen(command, cwd=PROJECT_DIR, stdout=subprocess.DEVNULL, stderr=errors)
        _, wait_status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = status = os.waitstatus_to_exitcode(wait_status)
        if status != 0:
            errors.seek(0)
            sys.stderr.write(errors.read().decode(errors="replace"))
    cpu = usage.ru_utime + usage.ru_stime
    return Sample(seconds, cpu, max_rss_mb(usage.ru_maxrss), status)


def render_args(stack: str, out_dir: Path, stack_file: Path | None = None) -> list[str]:
    """The command line of `python -m tools.render` for one stack."""
    return [stack, "--out", str(out_dir), *(["--stack-file", str(stack_file)] if stack_file else [])]


def render_once(stack: str, out_dir: Path, stack_file: Path | None = None) -> Sample:
    """Render `stack` in a fresh interpreter and measure that one child process."""
    return run_child([sys.executable, "-m", "tools.render", *render_args(stack, out_dir, stack_file)])


def list_libraries(stack: str, out_dir: Path, listing: Path) -> int:
    """Render once and write the library modules the render loaded to `listing`; their count."""
    code = LIST_LIBRARIES % sorted(OWN_MODULES)
    if run_child([sys.executable, "-c", code, str(listing), *render_args(stack, out_dir)]).status != 0:
        return 0
    return len(json.loads(listing.read_text()))


def import_floor_once(listing: Path) -> Sample:
    """Import the listed libraries in a fresh interpreter and measure that one child process."""
    return run_child([sys.executable, "-c", IMPORT_LIBRARIES, str(listing)])


def verdict(value: float, target: float) -> str:
    """`meets` or `MISSES` a target that the value must stay under."""
    return "meets" if value < target else "MISSES"


def run_series(
    label: str, runs: int, render: Callable[[Path], Sample], floor: Callable[[], Sample] | None = None
) -> tuple[list[Sample], list[Sample]] | None:
    """Render `runs` times (each after a run of the floor, if given), printing each; None on a failure."""
    samples: list[Sample] = []
    floors: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="elk-bench-") as out_dir:
        for run in range(1, runs + 1):
            if floor is not None:
                floors.append(floor())
                if floors[-1].status != 0:
                    print(f"import floor run {run}: failed (exit {floors[-1].status})", file=sys.stderr)
                    return None
            sample = render(Path(out_dir))
            if sample.status != 0:
                print(f"{label} run {run}: the render failed (exit {sample.status})", file=sys.stderr)
                return None
            versus = f" (import floor {floors[-1].seconds:.2f} s)" if floors else ""
            print(
                f"{label} run {run}: {sample.seconds:.2f} s{versus}, CPU {sample.cpu_seconds:.2f} s, "
                f"peak RSS {sample.peak_rss_mb:.0f} MB"
            )
            samples.append(sample)
    return samples, floors


def report_floor(stack: str, samples: list[Sample], floors: list[Sample], modules: int) -> None:
    """The render against its import floor: the ratio of the medians, wall and CPU time."""
    floor_seconds = statistics.median(s.seconds for s in floors)
    ratio = statistics.median(s.seconds for s in samples) / floor_seconds
    cpu_ratio = statistics.median(s.cpu_seconds for s in samples) / statistics.median(
        s.cpu_seconds for s in floors
    )
    met = "meets" if ratio <= TARGET_FLOOR_RATIO else "MISSES"
    print(
        f"{stack}: import floor (the {modules} library modules a render loads, in a fresh interpreter) "
        f"median {floor_seconds:.2f} s; render {ratio:.2f}x the floor: {met} the target of "
        f"at most {TARGET_FLOOR_RATIO}x (CPU time {cpu_ratio:.2f}x)"
    )


def report(stack: str, samples: list[Sample], large: list[Sample]) -> None:
    """The medians of the stack and the large cluster against their targets."""
    median_seconds = statistics.median(s.seconds for s in samples)
    peak_rss = max(s.peak_rss_mb for s in samples)
    median_rss = statistics.median(s.peak_rss_mb for s in samples)
    large_seconds = statistics.median(s.seconds for s in large)
    ratio = large_seconds / median_seconds
    print(
        f"{stack}: median wall time {median_seconds:.2f} s over {len(samples)} renders: "
        f"{verdict(median_seconds, TARGET_SECONDS)} the target of < {TARGET_SECONDS} s"
    )
    print(
        f"{stack}: peak RSS {peak_rss:.0f} MB (median {median_rss:.0f} MB): "
        f"{verdict(peak_rss, TARGET_RSS_MB)} the target of < {TARGET_RSS_MB:.0f} MB"
    )
    print(
        f"large (3 masters + 20 data nodes + 3 Logstash + 2 Kibana): median wall time {large_seconds:.2f} s, "
        f"{ratio:.2f}x {stack}: {verdict(ratio, TARGET_LARGE_RATIO)} the target of "
        f"< {TARGET_LARGE_RATIO:.0f}x, {verdict(large_seconds, TARGET_LARGE_SECONDS)} the target of "
        f"< {TARGET_LARGE_SECONDS} s"
    )


def main(argv: list[str] | None = None) -> int:
    """Render the stack (each after its import floor) and the large cluster; print the medians."""
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="qa", help="stack to render (default: qa)")
    parser.add_argument("--runs", type=int, default=5, help="number of renders of each (default: 5)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="elk-bench-") as scratch:
        listing = Path(scratch) / "libraries.json"
        modules = list_libraries(args.stack, Path(scratch), listing)
        if not modules:
            print(f"{args.stack}: the render failed; no import floor", file=sys.stderr)
            return 1
        series = run_series(
            args.stack,
            args.runs,
            lambda out: render_once(args.stack, out),
            lambda: import_floor_once(listing),
        )
    large = run_series("large", args.runs, lambda out: render_once("large", out, LARGE_STACK_FILE))
    if series is None or large is None:
        return 1
    (samples, floors), (large_samples, _) = series, large
    report(args.stack, samples, large_samples)
    report_floor(args.stack, samples, floors, modules)
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print(
            "(PYTHONDONTWRITEBYTECODE is set: renders read the bytecode that `make bytecode` wrote; "
            "a module edited since is compiled anew by every render)"
        )
    print(f"({os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {sys.platform})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
