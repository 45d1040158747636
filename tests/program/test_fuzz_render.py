"""Fuzz the render with broken stack files: a message and exit 1, never a traceback.

Hundreds of stack files made by breaking `Pulumi.qa.yaml` and `Pulumi.test.yaml` (values
of the wrong type or size, missing, unknown and duplicate keys, bytes that are not UTF-8,
documents that are not a mapping, nesting and aliases without bound, odd tags), broken
Logstash pipelines, and stack names that are no stack names (tests/program/fuzz_cases.py).
Each goes through `tools.render.main`, with the default output root, in a copy of the
project: a render that writes or deletes where it must not is seen, and harms nothing. One
process (tests/program/fuzz_driver.py) renders case after case, as a user's shell would
not, so state leaking from one render into the next shows too. When that process dies or
hangs, the case it was on is the failure and the next process carries on after it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.program import fuzz_driver
from tests.program.fuzz_cases import Case, generate_cases
from tests.program.fuzz_driver import FUZZ_STACK
from tools.render import PROJECT_DIR

PROJECT_FILES = [
    "__main__.py",
    "Pulumi.yaml",
    "Pulumi.qa.yaml",
    "Pulumi.test.yaml",
    "components",
    "tools",
    "pipelines",
    "scripts",
]


CASE_CPU_LIMIT = 15.0  # seconds of CPU; a render takes under 2, however busy the machine
CASE_WALL_LIMIT = 180.0  # seconds; for a case that hangs without using the CPU


def _sandbox(root: Path) -> Path:
    """A copy of the program, with a previous render and a file of our own in build/."""
    project = root / "sandbox" / "project"
    for name in PROJECT_FILES:
        source = PROJECT_DIR / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            project.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, project / name)
    (root / "sandbox" / "input").mkdir()
    (project / "build").mkdir()
    (project / "build" / "keep.txt").write_text("not the render's\n")
    return root / "sandbox"


def _read_results(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a running process, from /proc (0 where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _watch(driver: subprocess.Popen[bytes], results_path: Path) -> None:
    """Wait for the driver; kill it when one case runs past the CPU or wall-clock limit."""
    started, since_cpu, since_wall, offset = None, 0.0, time.monotonic(), 0
    while driver.poll() is None:
        time.sleep(0.1)
        with results_path.open("rb") as results:
            results.seek(offset)
            new = results.read()
        complete = new[: new.rfind(b"\n") + 1]
        offset += len(complete)
        for line in complete.splitlines():
            record = json.loads(line)
            started = record.get("start")
            since_cpu, since_wall = _cpu_seconds(driver.pid), time.monotonic()
        if started is None:
            continue
        cpu, wall = _cpu_seconds(driver.pid) - since_cpu, time.monotonic() - since_wall
        if cpu > CASE_CPU_LIMIT or wall > CASE_WALL_LIMIT:
            driver.kill()
            driver.wait()


def run_cases(tmp_path: Path, cases: list[Case]) -> tuple[dict[int, dict[str, Any]], str]:
    """Every case's outcome, and what the driver processes printed outside any case."""
    sandbox = _sandbox(tmp_path)
    cases_path, results_path = tmp_path / "cases.json", tmp_path / "results.jsonl"
    cases_path.write_text(json.dumps(cases))
    results_path.touch()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
    outcomes: dict[int, dict[str, Any]] = {}
    stray_output, first = "", 0
    while first < len(cases):
        log = tmp_path / f"driver-{first}.log"
        with log.open("w") as log_file:
            driver = subprocess.Popen(
                [
                    sys.executable,
                    fuzz_driver.__file__,
                    str(sandbox),
                    str(cases_path),
                    str(results_path),
                    str(first),
                ],
                cwd=sandbox / "project",
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
            _watch(driver, results_path)
        for record in _read_results(results_path):
            if "index" in record:
                outcomes[record["index"]] = record
        stray_output += log.read_text()
        starts = [r["start"] for r in _read_results(results_path) if "start" in r]
        unfinished = [i for i in starts if i not in outcomes]
        if unfinished:
            crashed = unfinished[-1]
            why = "ran past the time limit" if driver.returncode == -9 else "killed the render"
            outcomes[crashed] = {
                "crashed": f"{why} (exit {driver.returncode}); output:\n{log.read_text()[-2000:]}"
            }
            first = crashed + 1
        elif driver.returncode != 0:
            raise AssertionError(f"the fuzz driver failed outside any case:\n{log.read_text()[-3000:]}")
        else:
            first = len(cases)
    return outcomes, stray_output


def _allowed(change: str, stack: str, status: int | None) -> bool:
    """A successful render may change `build/<stack>/` and create `build/`, nothing else."""
    path = change.split(" ", 1)[1]
    if status != 0 or "/" in stack or stack in {"", ".", ".."}:
        return False
    return (
        path == "project/build"
        or path == f"project/build/{stack}"
        or path.startswith(f"project/build/{stack}/")
    )


def problems(outcome: dict[str, Any], stack: str) -> list[str]:
    """What is wrong with one case's outcome; empty when it is a clean render or a clean refusal."""
    if "crashed" in outcome:
        return [outcome["crashed"]]
    found = []
    status, stderr = outcome["status"], outcome["stderr"]
    if outcome["escaped"]:
        found.append(f"escaped main: {outcome['escaped']}")
    elif status not in (0, 1):
        found.append(f"exit status {status!r}")
    errors = sum(line.startswith("error:") for line in stderr.splitlines())
    if errors != (1 if status == 1 else 0):
        found.append(f"exit {status} with {errors} `error:` lines, not one message")
    if "Traceback" in stderr + outcome["stdout"]:
        found.append("a traceback was printed")
    if outcome["unraisable"] or "Exception ignored" in stderr:
        found.append(f"exceptions ignored: {outcome['unraisable']}")
    wrong = [c for c in outcome["changes"] if not _allowed(c, stack, status)]
    if wrong:
        found.append(f"wrote or removed outside build/<name>/ (or on failure): {wrong[:8]}")
    rendered = [c for c in outcome["changes"] if c.split(" ", 1)[1].startswith(f"project/build/{stack}/")]
    if status == 0 and not rendered:
        found.append("exit 0 but nothing was rendered")
    return found


def _describe(case: Case, found: list[str], stderr: str) -> str:
    data = base64.b64decode(case["file"]) if case["file"] else None
    shown = "(its own Pulumi.<name>.yaml)" if data is None else repr(data[:400])
    if "pipeline" in case:
        shown += f", pipelines/fuzz.conf {base64.b64decode(case['pipeline'])[:400]!r}"
    return (
        f"- {case['label']}\n  stack name {case['stack']!r:.60}, stack file {shown}\n"
        + "".join(f"  {line}\n" for problem in found for line in problem.splitlines()[-12:])
        + (f"  stderr: {stderr[-600:]!r}\n" if stderr else "")
    )


@pytest.mark.slow
def test_broken_stack_files_get_a_message_never_a_traceback_and_write_only_build_name(tmp_path: Path) -> None:
    cases = generate_cases()
    outcomes, stray_output = run_cases(tmp_path, cases)
    assert len(outcomes) == len(cases) >= 400
    failures = [
        _describe(case, found, outcomes[i].get("stderr", ""))
        for i, case in enumerate(cases)
        if (found := problems(outcomes[i], case["stack"]))
    ]
    statuses = [outcomes[i].get("status") for i in range(len(cases))]
    # A fuzz whose cases all fail, or all pass, at one early check would test nothing.
    assert statuses[:2] == [0, 0], "the unchanged stack files must render"
    assert statuses.count(1) > len(cases) // 2
    assert not failures, f"{len(failures)} of {len(cases)} cases failed:\n" + "".join(failures)
    assert "Traceback" not in stray_output and "Exception ignored" not in stray_output, stray_output


CLEAN_REFUSAL = {
    "status": 1,
    "escaped": "",
    "stdout": "",
    "stderr": "error: bad\n",
    "unraisable": [],
    "changes": [],
}
CLEAN_RENDER = {**CLEAN_REFUSAL, "status": 0, "stderr": "", "changes": ["created project/build/fuzz/a.yaml"]}


@pytest.mark.parametrize(
    "outcome",
    [
        {**CLEAN_REFUSAL, "status": None, "escaped": "Traceback ...\nValueError: x"},
        {**CLEAN_REFUSAL, "status": None, "escaped": "SystemExit(2)"},
        {**CLEAN_REFUSAL, "status": 2},
        {**CLEAN_REFUSAL, "stderr": "bad\n"},
        {**CLEAN_REFUSAL, "stderr": "error: bad\nerror: worse\n"},
        {**CLEAN_RENDER, "stderr": "error: bad\n"},
        {**CLEAN_REFUSAL, "stderr": "error: bad\nTraceback (most recent call last):\n"},
        {**CLEAN_REFUSAL, "unraisable": ["Exception ignored in: ..."]},
        {**CLEAN_REFUSAL, "changes": ["changed project/build/fuzz/a.yaml"]},
        {**CLEAN_RENDER, "changes": ["removed project/build/keep.txt", "created project/build/fuzz/a.yaml"]},
        {
            **CLEAN_RENDER,
            "changes": ["created project/build/.fuzz-x1y2", "created project/build/fuzz/a.yaml"],
        },
        {
            **CLEAN_RENDER,
            "changes": ["removed project/components/base.py", "created project/build/fuzz/a.yaml"],
        },
        {**CLEAN_RENDER, "changes": []},
        {**CLEAN_RENDER, "changes": ["created input/pwned", "created project/build/fuzz/a.yaml"]},
        {"crashed": "killed the render (exit -11)"},
    ],
)
def test_the_fuzz_sees_each_kind_of_failure(outcome: dict[str, Any]) -> None:
    assert problems(CLEAN_REFUSAL, FUZZ_STACK) == []
    assert problems(CLEAN_RENDER, FUZZ_STACK) == []
    assert problems(outcome, FUZZ_STACK) != []


@pytest.mark.parametrize("stack", ["..", ".", "", "a/b"])
def test_the_fuzz_allows_no_write_for_a_name_that_is_no_plain_directory(stack: str) -> None:
    render = {**CLEAN_RENDER, "changes": [f"created project/build/{stack}/a.yaml"]}
    assert problems(render, stack) != []
