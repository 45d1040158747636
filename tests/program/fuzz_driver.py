"""The fuzz's driver: runs cases in its own process, inside the sandbox, one JSON line each.

    python tests/program/fuzz_driver.py <sandbox> <cases.json> <results.jsonl> <first case>

It imports nothing of the project but `tools.render` from the sandbox's copy, so a render
that writes where it must not harms nothing.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

FUZZ_STACK = "fuzz"
MEMORY_LIMIT = 4 << 30  # bytes, so a runaway case fails alone instead of starving the machine


def _tree(root: Path) -> dict[str, tuple[int, int] | None]:
    """Each path under `root`: size and mtime for files, None for directories."""
    found: dict[str, tuple[int, int] | None] = {}
    for directory, subdirectories, files in os.walk(root):
        base = Path(directory)
        for name in subdirectories:
            found[str((base / name).relative_to(root))] = None
        for name in files:
            path = base / name
            stat = path.lstat()
            found[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return found


def _changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    created = [f"created {p}" for p in after.keys() - before.keys()]
    removed = [f"removed {p}" for p in before.keys() - after.keys()]
    changed = [f"changed {p}" for p in before.keys() & after.keys() if before[p] != after[p]]
    return sorted(created + removed + changed)


def _run_main(main: Callable[[list[str]], int], argv: list[str]) -> dict[str, Any]:
    """main's exit status and output; whatever escapes it, with its traceback."""
    out, err, unraisable = io.StringIO(), io.StringIO(), []
    previous_hook = sys.unraisablehook
    sys.unraisablehook = lambda report: unraisable.append(f"{report.err_msg}: {report.exc_value!r}")
    status, escaped = None, ""
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(argv)
    except KeyboardInterrupt:
        raise
    except SystemExit as error:
        escaped = f"SystemExit({error.code!r})"
    except BaseException:  # anything escaping main is what we are looking for
        escaped = traceback.format_exc()
    finally:
        sys.unraisablehook = previous_hook
    return {
        "status": status,
        "escaped": escaped,
        "stdout": out.getvalue(),
        "stderr": err.getvalue(),
        "unraisable": unraisable,
    }


def drive(sandbox: Path, cases_path: Path, results_path: Path, first: int) -> None:
    """Run cases from `first` on, one JSON line when each starts and one with its outcome."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    project = sandbox / "project"
    sys.path.insert(0, str(project))
    from tools.render import main

    cases = json.loads(cases_path.read_text())
    stack_file = sandbox / "input" / f"Pulumi.{FUZZ_STACK}.yaml"
    with results_path.open("a") as results:
        for index in range(first, len(cases)):
            case = cases[index]
            stack_file.write_bytes(base64.b64decode(case["file"]))
            if "pipeline" in case:
                (project / "pipelines" / "fuzz.conf").write_bytes(base64.b64decode(case["pipeline"]))
            argv = ["--out", str(project / "build")]
            argv += ["--stack-file", str(stack_file)] if case["file"] else []
            before = _tree(sandbox)
            results.write(json.dumps({"start": index}) + "\n")
            results.flush()
            cpu = time.process_time()
            outcome = _run_main(main, [*argv, "--", case["stack"].replace("{sandbox}", str(sandbox))])
            outcome["cpu"] = round(time.process_time() - cpu, 3)
            outcome["changes"] = _changes(before, _tree(sandbox))
            results.write(json.dumps({"index": index, **outcome}) + "\n")
            results.flush()


if __name__ == "__main__":
    drive(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
