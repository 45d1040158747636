"""`scripts/env-from-files.sh`: credentials reach a program as variables read from mounted files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from components.specs.common import ENV_FILES_SCRIPT


def run(directory: Path | None, *command: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": os.environ["PATH"]}
    if directory is not None:
        environment["ENV_FILES_DIR"] = str(directory)
    return subprocess.run(
        ["bash", str(ENV_FILES_SCRIPT), *command], env=environment, capture_output=True, text=True, timeout=30
    )


def secret_volume(tmp_path: Path, files: dict[str, str]) -> Path:
    """A directory laid out as the kubelet lays out a Secret volume: hidden `..data`, then the files."""
    directory = tmp_path / "env"
    (directory / "..data").mkdir(parents=True)
    for name, value in files.items():
        (directory / name).write_text(value)
    return directory


def test_each_file_becomes_the_variable_it_is_named_after(tmp_path: Path) -> None:
    directory = secret_volume(
        tmp_path, {"SETUP_USERNAME": "elk-stack-setup", "SETUP_PASSWORD": "p@ss w0rd\n"}
    )
    result = run(directory, "bash", "-c", 'printf "%s|%s" "$SETUP_USERNAME" "$SETUP_PASSWORD"')
    assert result.returncode == 0, result.stderr
    assert result.stdout == "elk-stack-setup|p@ss w0rd", "the value as stored, without its trailing newline"


def test_a_value_is_never_evaluated_by_the_shell(tmp_path: Path) -> None:
    directory = secret_volume(tmp_path, {"KIBANA_ES_PASSWORD": "$(touch pwned)`id`$HOME"})
    result = run(directory, "bash", "-c", 'printf "%s" "$KIBANA_ES_PASSWORD"')
    assert result.stdout == "$(touch pwned)`id`$HOME"
    assert not (Path.cwd() / "pwned").exists()


def test_a_file_not_named_as_a_variable_is_refused(tmp_path: Path) -> None:
    directory = secret_volume(tmp_path, {"elasticsearch.password": "x"})
    result = run(directory, "true")
    assert result.returncode == 1
    assert "elasticsearch.password is not named after an environment variable" in result.stderr


def test_a_missing_volume_fails_at_once_with_its_path(tmp_path: Path) -> None:
    result = run(tmp_path / "absent", "true")
    assert result.returncode == 1
    assert f"{tmp_path / 'absent'} is not a directory: the credentials volume is not mounted" in result.stderr
    assert "ENV_FILES_DIR names the directory" in run(None, "true").stderr
