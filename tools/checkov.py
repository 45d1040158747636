"""Checkov, the outside scanner, from a virtualenv of its own under ~/.cache/elk-stack.

Checkov's requirements conflict with the Pulumi SDK's, so it cannot share the project's
virtualenv. Its own is built once, from the pinned `tools/checkov-requirements.txt`,
keyed by a digest of that file, and reused by every later run (`make test` builds it on a
fresh machine: PyPI is one of the registries these machines reach).

`python -m tools.checkov <dir>` prints the summary and the failing checks of a render.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import subprocess
import sys
import venv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tools.e2e.build import cache_root

REQUIREMENTS = Path(__file__).with_name("checkov-requirements.txt")


class CheckovError(RuntimeError):
    """Checkov could not be installed or run; the message says which."""


@dataclass(frozen=True)
class Scan:
    """What Checkov found in a directory of manifests."""

    passed: int
    failed: dict[str, int]
    """Failing check id → how many resources fail it."""

    @property
    def pass_rate(self) -> float:
        """Passed checks in percent of all run."""
        total = self.passed + sum(self.failed.values())
        return 100.0 * self.passed / total if total else 0.0


def home() -> Path:
    """The virtualenv for the pinned requirements, built on first use (a half-built one is rebuilt)."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    root = cache_root() / f"checkov-{digest}"
    installed = root / ".installed"
    root.parent.mkdir(parents=True, exist_ok=True)
    # Test workers may ask at the same time: one builds, the others wait for it.
    with (root.parent / f"{root.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not installed.exists():
            build(root)
            installed.touch()
    return root


def build(root: Path) -> None:
    """A fresh virtualenv at `root` with the pinned requirements."""
    venv.create(root, with_pip=True, clear=True)
    install = [str(root / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    result = subprocess.run([*install, "-r", str(REQUIREMENTS)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise CheckovError(
            f"installing Checkov from {REQUIREMENTS.name} failed: {result.stderr.strip()[-2000:]}"
        )


def scan(directory: Path) -> Scan:
    """Run Checkov's Kubernetes checks over the manifests in `directory`."""
    command = [
        str(home() / "bin" / "checkov"),
        "--directory",
        str(directory),
        "--framework",
        "kubernetes",
        "--quiet",
        "--compact",
        "--output",
        "json",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise CheckovError(
            f"Checkov printed no report (exit {result.returncode}): {result.stderr[-2000:]}"
        ) from None
    report = report[0] if isinstance(report, list) else report
    failed: Counter[str] = Counter(check["check_id"] for check in report["results"]["failed_checks"])
    return Scan(report["summary"]["passed"], dict(failed))


def main(argv: list[str]) -> int:
    """Print a directory's pass rate and failing checks."""
    found = scan(Path(argv[0]))
    print(f"{found.pass_rate:.1f}% passed ({found.passed} passed, {sum(found.failed.values())} failed)")
    for check, count in sorted(found.failed.items()):
        print(f"  {check}: {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
