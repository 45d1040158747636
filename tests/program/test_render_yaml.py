"""libyaml writes the render's YAML files, byte for byte as PyYAML's pure-Python emitter wrote them."""

from __future__ import annotations

import filecmp
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

import tools.render_output as output
from tools.render import PROJECT_DIR, run_program, stack_config

# (stack, stack file, --show-secrets): the stacks the project ships and the benchmark's.
RENDERS = [
    ("qa", None, False),
    ("qa", None, True),
    ("test", None, False),
    ("large", PROJECT_DIR / "benchmarks" / "large.yaml", True),
]
# Text libyaml writes otherwise, or might: each must take the pure-Python emitter.
OTHERWISE = [
    "a tab\tin a line that is long enough to be folded by the emitter, " * 3,
    "kept trailing newlines\n\n",
    "a line with trailing spaces  \nand the next",
    "ends in a space \n",
    "\n",
    "non-ASCII: caf\u00e9",
    "a carriage\rreturn",
]


def python_yaml(manifest: dict[str, Any]) -> str:
    """What the render wrote before libyaml: the pure-Python emitter."""
    return yaml.dump(manifest, Dumper=output._ManifestDumper, sort_keys=True, default_flow_style=False)


@pytest.mark.parametrize(("stack", "stack_file", "show_secrets"), RENDERS)
def test_a_render_writes_the_same_files_both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stack: str, stack_file: Path | None, show_secrets: bool
) -> None:
    rendered = run_program(stack_config(stack, path=stack_file), stack=stack, show_secrets=show_secrets)
    output.write_build(rendered, tmp_path / "libyaml")
    with monkeypatch.context() as patch:
        patch.setattr(output, "_libyaml_writes_alike", lambda _: False)
        output.write_build(rendered, tmp_path / "python")
    names = sorted(path.name for path in (tmp_path / "python").iterdir())
    assert names == sorted(path.name for path in (tmp_path / "libyaml").iterdir())
    match, mismatch, errors = filecmp.cmpfiles(
        tmp_path / "python", tmp_path / "libyaml", names, shallow=False
    )
    assert (mismatch, errors) == ([], [])
    assert len(match) == len(rendered.manifests) + len(output.RENDER_FILES)


@pytest.mark.parametrize(("stack", "stack_file", "show_secrets"), RENDERS)
def test_the_shipped_stacks_take_libyaml(stack: str, stack_file: Path | None, show_secrets: bool) -> None:
    """So the comparison above is not vacuous (and the render is as fast as it can be)."""
    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML was built without libyaml")
    rendered = run_program(stack_config(stack, path=stack_file), stack=stack, show_secrets=show_secrets)
    written = [output.unappliable_secret(m) if m["kind"] == "Secret" else m for m in rendered.manifests]
    assert [m["metadata"]["name"] for m in written if not output._libyaml_writes_alike(m)] == []


@pytest.mark.parametrize("text", OTHERWISE)
def test_other_text_takes_the_python_emitter(text: str) -> None:
    for manifest in ({"data": {"key": text}}, {"data": {text: "value"}}, {"items": [text, {"k": [text]}]}):
        assert not output._libyaml_writes_alike(manifest)
        assert output.manifest_yaml(manifest) == python_yaml(manifest)


def random_text(rng: random.Random, multiline: bool) -> str:
    pools = [
        [chr(c) for c in range(0x20, 0x7F)],
        list("ab  :-#'\"|>{}[],&*!%@`?"),
        list("ab \n") if multiline else list("ab "),
        list("ab\n\n -:#") if multiline else list("ab -:#"),
    ]
    pool = rng.choice(pools)
    length = rng.choice([rng.randint(0, 6), rng.randint(0, 40), rng.randint(60, 300)])
    return "".join(rng.choice(pool) for _ in range(length))


def random_value(rng: random.Random) -> Any:
    if rng.random() < 0.75:
        return random_text(rng, multiline=True)
    return rng.choice(
        [None, True, False, 0, -7, 10**15, 0.5, 1e21, "", "null", "yes", "1.0", "~", "- a", "#"]
    )


def test_both_emitters_agree_on_text_libyaml_is_given() -> None:
    """Seeded random manifests of the text `_libyaml_writes_alike` accepts: the same bytes."""
    rng = random.Random(20240601)
    compared = 0
    for _ in range(3000):
        key = random_text(rng, multiline=False)[:100] or "key"
        value = random_value(rng)
        manifest = {key: value, "spec": [value, {key: [value, {"deep": value}]}], "z": [random_value(rng)]}
        if output._libyaml_writes_alike(manifest):
            compared += 1
            assert output.manifest_yaml(manifest) == python_yaml(manifest), (key, value)
    assert compared > 1500
