"""An outside scanner over what the stack ships: Checkov's Kubernetes checks on three renders.

qa, test and the large multi-node stack (benchmarks/large.yaml), rendered as `make render`
writes them. Each failing check must be one docs/security.md lists with the reason it is
accepted, and no stack may fall below the pass rate it has reached. Checkov runs from its
own virtualenv (tools/checkov.py), built on first use.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tools import checkov
from tools.render import PROJECT_DIR

STACKS = {"qa": [], "test": [], "large": ["--stack-file", "benchmarks/large.yaml"]}
# The pass rate each stack has reached; a change that lowers it fails here.
FLOOR_PERCENT = 97.0
SECURITY_DOC = PROJECT_DIR / "docs" / "security.md"


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, checkov.Scan]:
    out = tmp_path_factory.mktemp("checkov")
    found = {}
    for stack, extra in STACKS.items():
        command = [sys.executable, "-m", "tools.render", stack, "--out", str(out), *extra]
        result = subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        found[stack] = checkov.scan(out / stack)
    return found


def accepted_checks(doc: Path = SECURITY_DOC) -> set[str]:
    """The check ids the security doc's scanner table lists as accepted, with a reason each."""
    section = doc.read_text().split("## Scanners", 1)[1].split("\n## ", 1)[0]
    return {
        line.split("|")[1].strip().strip("`")
        for line in section.splitlines()
        if line.startswith("| `CKV_") and line.count("|") >= 3 and line.split("|")[2].strip()
    }


@pytest.mark.parametrize("stack", STACKS)
def test_every_failing_check_is_one_the_docs_accept_with_a_reason(
    scans: dict[str, checkov.Scan], stack: str
) -> None:
    scan = scans[stack]
    assert scan.passed > 400, "Checkov ran its checks over the render"
    unexplained = sorted(set(scan.failed) - accepted_checks())
    assert unexplained == [], f"{stack}: failing checks docs/security.md does not explain"


@pytest.mark.parametrize("stack", STACKS)
def test_no_stack_falls_below_the_pass_rate_reached(scans: dict[str, checkov.Scan], stack: str) -> None:
    assert scans[stack].pass_rate >= FLOOR_PERCENT, (stack, scans[stack])


def test_the_docs_accept_only_checks_that_still_fail(scans: dict[str, checkov.Scan]) -> None:
    """A check fixed since must leave the table, so the table stays the list of what fails."""
    failing = {check for scan in scans.values() for check in scan.failed}
    assert accepted_checks() == failing
