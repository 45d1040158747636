"""The env file a local cluster writes, read back as the e2e suite and the deploy benchmark read it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.e2e.layout import read_env_file


def test_the_env_file_puts_its_tools_first_on_path_and_sets_its_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("UNTOUCHED", "kept")
    env_file = tmp_path / "env"
    env_file.write_text(
        "# The local cluster in /c (API server https://127.0.0.1:6443).\n"
        "export PATH='/cache/pulumi/bin:/cache/k8s bin':\"$PATH\"\n"
        "export PULUMI_BACKEND_URL=file:///c/pulumi-state\n"
        "export PULUMI_CONFIG_PASSPHRASE=elk-stack-local\n"
    )
    env = read_env_file(env_file)
    assert env["PATH"] == "/cache/pulumi/bin:/cache/k8s bin:/usr/bin:/bin"
    assert env["PULUMI_BACKEND_URL"] == "file:///c/pulumi-state"
    assert env["PULUMI_CONFIG_PASSPHRASE"] == "elk-stack-local"
    assert env["UNTOUCHED"] == "kept"
