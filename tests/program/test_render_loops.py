"""The render closes every event loop it creates, so nothing is printed about one at exit.

A leaked loop is collected later as cyclic garbage; when the collector finalizes its
self-pipe socket first, the loop's `__del__` prints `Exception ignored in:
BaseEventLoop.__del__ ... ValueError: Invalid file descriptor: -1`. Which of the two goes
first varies, so these tests look for the leak itself: the `ResourceWarning` every
unclosed loop emits when it is collected.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pulumi
import pytest

from tools.render import PROJECT_DIR, run_program, stack_config


def test_a_render_leaves_no_unclosed_event_loop_or_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    unraisable: list[str] = []

    def hook(report: Any) -> None:
        unraisable.append(f"{report.err_msg} {report.object!r}: {report.exc_value!r}")

    monkeypatch.setattr(sys, "unraisablehook", hook)
    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for _ in range(3):
            run_program(stack_config("test"), stack="test")
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert [m for m in leaks if "event loop" in m or "socket" in m] == []
    assert unraisable == []


FAILING_PROGRAM = """
import pulumi
from pulumi_kubernetes.core.v1 import ConfigMap

for index in range(5):
    ConfigMap(f"map-{index}", data={"a": "b"})
raise pulumi.RunError("refused after registering resources")
"""


def test_a_failed_render_leaves_no_unclosed_event_loop(tmp_path: Path) -> None:
    (tmp_path / "__main__.py").write_text(FAILING_PROGRAM)
    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with pytest.raises(pulumi.RunError, match="refused after registering resources"):
            run_program({}, stack="unit", project_dir=tmp_path)
        gc.collect()
    assert [str(w.message) for w in caught if "event loop" in str(w.message)] == []


def test_the_render_command_prints_nothing_about_event_loops_at_exit(tmp_path: Path) -> None:
    """Also covers interpreter shutdown, where the noise used to show up after a render."""
    result = subprocess.run(
        [
            sys.executable,
            "-W",
            "always::ResourceWarning",
            "-m",
            "tools.render",
            "test",
            "--out",
            str(tmp_path),
        ],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Exception ignored" not in result.stderr
    assert "ResourceWarning" not in result.stderr, result.stderr
