"""`make recover`'s mending of a state that a kill left unreadable, on a file:// backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import recover
from tools.recover import empty_sidecars


def state_files(root: Path, *names: str, content: str = "") -> list[Path]:
    """Files under the backend's stacks directory, each with `content`."""
    paths = []
    for name in names:
        path = root / ".pulumi" / "stacks" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        paths.append(path)
    return paths


def test_the_empty_sidecars_of_the_stack_are_found_and_no_other_file(tmp_path: Path) -> None:
    empty = state_files(
        tmp_path, "elk-stack/qa.json.attrs", "elk-stack/qa.json.bak.attrs", "qa.json.gz.attrs"
    )
    state_files(tmp_path, "elk-stack/qa.json", "elk-stack/qa2.json.attrs", "elk-stack/test.json.attrs")
    state_files(tmp_path, "elk-stack/qa.json.attrs.keep", content="")
    state_files(tmp_path, "other/qa.json.attrs", content='{"user.content_type":"application/json"}\n')

    assert sorted(empty_sidecars(tmp_path, "qa")) == sorted(empty)
    assert sorted(empty_sidecars(tmp_path, "org/elk-stack/qa")) == sorted(empty)


def test_recover_removes_only_the_empty_sidecars_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    [empty] = state_files(tmp_path, "elk-stack/qa.json.attrs")
    [whole] = state_files(tmp_path, "elk-stack/qa.json.bak.attrs", content="{}\n")
    [checkpoint] = state_files(tmp_path, "elk-stack/qa.json", content="{}\n")
    monkeypatch.setattr(recover, "file_backend", lambda _cwd: tmp_path)

    recover.mend_state_sidecars("qa", tmp_path)

    assert not empty.exists() and whole.exists() and checkpoint.exists()
    assert capsys.readouterr().err == f"make recover: removed {empty}, which the killed run left empty\n"


def test_a_backend_that_is_not_a_directory_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(recover, "file_backend", lambda _cwd: None)
    recover.mend_state_sidecars("qa", tmp_path)
    assert capsys.readouterr().err == ""
