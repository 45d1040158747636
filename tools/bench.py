"""Benchmark the offline render: time and memory of the qa stack, and of a large cluster.

The large cluster (benchmarks/large.yaml) shows that rendering grows with the program,
not with the number of nodes: it should stay within twice the qa time.

Each run is a fresh interpreter, as `make render` is, so imports and the Pulumi SDK's
start-up are part of the measurement. `os.wait4` gives each child's own resource usage,
so the peak RSS is that of one render, not of this process. It is a benchmark, not a test:
it reports against the targets and always exits 0 unless a render fails.

    python -m tools.bench [--stack qa] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 1.5
TARGET_RSS_MB = 200.0


@dataclass(frozen=True)
class Sample:
    """One render: its wall time and the child's peak resident set size."""

    seconds: float
    peak_rss_mb: float
    status: int


def max_rss_mb(ru_maxrss: int) -> float:
    """`ru_maxrss` in MB: Linux reports KiB, macOS bytes."""
    return ru_maxrss / 2**20 if sys.platform == "darwin" else ru_maxrss / 2**10


LARGE_STACK_FILE = PROJECT_DIR / "benchmarks" / "large.yaml"
TARGET_LARGE_SECONDS = 2.0
TARGET_LARGE_RATIO = 2.0


def render_once(stack: str, out_dir: Path, stack_file: Path | None = None) -> Sample:
    """Render `stack` in a fresh interpreter and measure that one child process."""
    command = [sys.executable, "-m", "tools.render", stack, "--out", str(out_dir)]
    if stack_file is not None:
        command += ["--stack-file", str(stack_file)]
    # A file rather than a pipe: a chatty child can never block on a full pipe buffer.
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        child = subprocess.Popen(command, cwd=PROJECT_DIR, stdout=subprocess.DEVNULL, stderr=errors)
        _, wait_status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = status = os.waitstatus_to_exitcode(wait_status)
        if status != 0:
            errors.seek(0)
            sys.stderr.write(errors.read().decode(errors="replace"))
    return Sample(seconds, max_rss_mb(usage.ru_maxrss), status)


def verdict(value: float, target: float) -> str:
    """`meets` or `MISSES` a target that the value must stay under."""
    return "meets" if value < target else "MISSES"


def run_series(label: str, stack: str, runs: int, stack_file: Path | None = None) -> list[Sample] | None:
    """Render one stack `runs` times, printing each run; None when a render fails."""
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="elk-bench-") as out_dir:
        for run in range(1, runs + 1):
            sample = render_once(stack, Path(out_dir), stack_file)
            if sample.status != 0:
                print(f"{label} run {run}: the render failed (exit {sample.status})", file=sys.stderr)
                return None
            print(f"{label} run {run}: {sample.seconds:.2f} s, peak RSS {sample.peak_rss_mb:.0f} MB")
            samples.append(sample)
    return samples


def main(argv: list[str] | None = None) -> int:
    """Render the stack and the large cluster; print the medians against the targets."""
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="qa", help="stack to render (default: qa)")
    parser.add_argument("--runs", type=int, default=5, help="number of renders of each (default: 5)")
    args = parser.parse_args(argv)
    samples = run_series(args.stack, args.stack, args.runs)
    large = run_series("large", "large", args.runs, LARGE_STACK_FILE)
    if samples is None or large is None:
        return 1
    median_seconds = statistics.median(s.seconds for s in samples)
    peak_rss = max(s.peak_rss_mb for s in samples)
    median_rss = statistics.median(s.peak_rss_mb for s in samples)
    large_seconds = statistics.median(s.seconds for s in large)
    ratio = large_seconds / median_seconds
    print(
        f"{args.stack}: median wall time {median_seconds:.2f} s over {len(samples)} renders: "
        f"{verdict(median_seconds, TARGET_SECONDS)} the target of < {TARGET_SECONDS} s"
    )
    print(
        f"{args.stack}: peak RSS {peak_rss:.0f} MB (median {median_rss:.0f} MB): "
        f"{verdict(peak_rss, TARGET_RSS_MB)} the target of < {TARGET_RSS_MB:.0f} MB"
    )
    print(
        f"large (3 masters + 20 data nodes + 3 Logstash + 2 Kibana): median wall time {large_seconds:.2f} s, "
        f"{ratio:.2f}x {args.stack}: {verdict(ratio, TARGET_LARGE_RATIO)} the target of "
        f"< {TARGET_LARGE_RATIO:.0f}x, {verdict(large_seconds, TARGET_LARGE_SECONDS)} the target of "
        f"< {TARGET_LARGE_SECONDS} s"
    )
    print(f"({os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {sys.platform})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
