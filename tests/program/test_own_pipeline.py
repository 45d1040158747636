"""A user's own pipeline under pipelines/ breaks none of the tests that read that folder."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools.render import PROJECT_DIR


@pytest.mark.slow
def test_the_suite_tolerates_a_users_own_pipeline(tmp_path: Path) -> None:
    """Adding a valid `.conf` under pipelines/ must not break the tests that read that folder."""
    for name in ("components", "pipelines", "scripts", "tests", "tools"):
        shutil.copytree(
            PROJECT_DIR / name, tmp_path / name, ignore=shutil.ignore_patterns("e2e", "__pycache__")
        )
    for name in ("__main__.py", "Pulumi.yaml", "Pulumi.qa.yaml", "Pulumi.test.yaml", "pyproject.toml"):
        shutil.copy(PROJECT_DIR / name, tmp_path / name)
    (tmp_path / "pipelines" / "my-app.conf").write_text(
        'input { http { port => 8080 } }\noutput { elasticsearch { hosts => ["${ELASTICSEARCH_HOSTS}"] '
        'index => "myapp-%{+YYYY.MM.dd}" } }\n'
    )
    # Not this module: the copy would run this test again, and so on.
    selected = ["tests/specs/test_retention.py", "tests/program/test_security.py"]
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            # In this process, not on workers of its own beside the suite's.
            "-n",
            "0",
            "-k",
            "pipeline or literal",
            *selected,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:]
