"""The Makefile's promises that need no cluster: a missing Pulumi CLI is one clear line."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]


def make(venv: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run make in the project with a throwaway VENV, so a stray install would show there."""
    return subprocess.run(
        ["make", "--no-print-directory", *args, "VENV=" + str(venv)],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("target", ["up", "preview"])
def test_pulumi_targets_without_the_cli_say_how_to_install_it(tmp_path: Path, target: str) -> None:
    """Without `pulumi` on PATH the target stops at once, before building a virtualenv."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("make", "sh", "bash"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    result = make(tmp_path / "venv", target, "STACK=qa", env={**os.environ, "PATH": str(bin_dir)})
    assert result.returncode != 0
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert (
        f"make {target}: the Pulumi CLI is not on PATH; install it from https://www.pulumi.com/docs/install/"
        in (lines[0])
    )
    assert "or for the local control plane run `source build/cluster/env` (after make cluster-up)" in lines[0]
    assert not (tmp_path / "venv").exists()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_alone_lists_the_targets_and_builds_nothing(tmp_path: Path) -> None:
    result = make(tmp_path / "venv")
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert {"render", "test", "up", "e2e-tools", "cluster-up", "e2e", "help"} <= listed
    assert "Render Pulumi.$(STACK).yaml" in result.stdout
    assert not (tmp_path / "venv").exists()
