"""The build directory a render writes: one YAML file per object, resources.json and outputs.json.

A render replaces `<out>/<stack>/` whole, in one step, and only a directory that holds
nothing but an earlier render's files; rendered Secrets are written so that a mistaken
`kubectl apply` fails on them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml
from yaml.representer import SafeRepresenter

from tools.render_runtime import REDACTED, Rendered
from tools.stack_file import StackFileError

# A Secret value written with --show-secrets: readable, but never valid base64 (see unappliable_secret).
SHOWN = "<render only, not base64: {value}>"
# Order of the files, dependencies first, so a reader meets each object before what uses it.
# Not for `kubectl apply`: rendered Secrets are refused on purpose (see unappliable_secret).
KIND_ORDER = {
    "Namespace": 0,
    "ServiceAccount": 1,
    "Secret": 2,
    "ConfigMap": 3,
    "PersistentVolumeClaim": 4,
    "Service": 5,
}
WORKLOAD_ORDER = 6
# What a render writes besides one `.yaml` file per object.
RENDER_FILES = {"resources.json", "outputs.json"}
# Pulumi's own rule for stack names.
STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


def unappliable_secret(manifest: dict[str, Any]) -> dict[str, Any]:
    """A Secret as the render writes it: every value in `data`, as text that is not base64.

    kube-apiserver reads `data` as base64 and refuses the whole Secret when a value is not
    ("illegal base64 data at input byte 0"), whereas `stringData` takes any text. Rendered
    values are redacted or mock, so a mistaken `kubectl apply` must fail on them rather
    than install fake credentials; each value starts with `<`, which base64 never does.
    """
    values = {**manifest.get("data", {}), **manifest.get("stringData", {})}
    written = {k: v if v == REDACTED else SHOWN.format(value=v) for k, v in values.items()}
    rest = {key: value for key, value in manifest.items() if key not in ("data", "stringData")}
    return {**rest, "data": written}


class _ManifestDumper(yaml.SafeDumper):
    """Writes multi-line strings (settings files, pipelines) as readable `|` blocks."""


def _represent_text(dumper: SafeRepresenter, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_ManifestDumper.add_representer(str, _represent_text)


class _FastManifestDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """`_ManifestDumper` with libyaml's emitter: the same representer, ~7 times faster.

    Only for manifests `_libyaml_writes_alike` accepts: its emitter writes some text
    otherwise than the pure-Python one (long double-quoted lines fold elsewhere, `|+`
    blocks end the document with `...`, long keys), and a render must not change a byte.
    """


_FastManifestDumper.add_representer(str, _represent_text)
# Printable ASCII and line breaks: the text both emitters were shown to write alike
# (tests/test_render_yaml.py); a tab or a non-ASCII character takes the pure-Python one.
_PLAIN_TEXT = re.compile(r"[\x20-\x7e\n]*\Z")


def _plain_text(text: str) -> bool:
    """Text written alike: a single line, or lines that end without spaces and keep no extra newline."""
    if not _PLAIN_TEXT.match(text):
        return False
    if "\n" not in text:
        return True
    return " \n" not in text and not text.endswith((" ", "\n\n")) and text != "\n"


def _libyaml_writes_alike(value: Any) -> bool:
    """Whether libyaml's emitter writes `value` byte for byte as the pure-Python one does."""
    if isinstance(value, dict):
        return all(
            isinstance(key, str)
            and 0 < len(key) <= 100
            and "\n" not in key
            and _plain_text(key)
            and _libyaml_writes_alike(item)
            for key, item in value.items()
        )
    if isinstance(value, list):
        return all(_libyaml_writes_alike(item) for item in value)
    if isinstance(value, str):
        return _plain_text(value)
    return value is None or isinstance(value, bool | int | float)


def manifest_yaml(manifest: dict[str, Any]) -> str:
    """One manifest as its file holds it: keys sorted, multi-line text in `|` blocks."""
    fast = yaml.__with_libyaml__ and _libyaml_writes_alike(manifest)
    dumper = _FastManifestDumper if fast else _ManifestDumper
    return yaml.dump(manifest, Dumper=dumper, sort_keys=True, default_flow_style=False)


def manifest_file_name(manifest: dict[str, Any]) -> str:
    """`<order>-<kind>-<name>.yaml`: namespace, accounts, Secrets, config, claims, Services, then the rest."""
    kind = manifest["kind"]
    order = KIND_ORDER.get(kind, WORKLOAD_ORDER)
    return f"{order:02d}-{kind.lower()}-{manifest['metadata']['name']}.yaml"


def write_build(rendered: Rendered, out_dir: Path) -> None:
    """Replace `out_dir` with the rendered files in one step, so a failed render changes nothing."""
    try:
        _write_build(rendered, out_dir)
    except OSError as error:
        raise StackFileError(f"cannot write {out_dir}: {error.strerror or error}") from None


def _write_build(rendered: Rendered, out_dir: Path) -> None:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        staging.chmod(0o755)  # mkdtemp's 0700 would hide the manifests from other users
        for manifest in rendered.manifests:
            if manifest["kind"] == "Secret":
                manifest = unappliable_secret(manifest)
            (staging / manifest_file_name(manifest)).write_text(manifest_yaml(manifest))
        resources = json.dumps(rendered.resources, indent=2, sort_keys=True)
        (staging / "resources.json").write_text(resources + "\n")
        (staging / "outputs.json").write_text(json.dumps(rendered.outputs, indent=2, sort_keys=True) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def output_dir(stack: str, out_root: Path) -> Path:
    """`<out_root>/<stack>`, for a valid Pulumi stack name only.

    The directory is replaced whole, so a name like `..` or `.` (or one with a slash) would
    replace the project or all of `build/`: refuse anything but a plain child of `out_root`.
    """
    if not STACK_NAME.fullmatch(stack) or stack in {".", ".."}:
        raise StackFileError(
            f"{stack!r} is not a stack name: use 1 to 100 letters, digits, '-', '_' or '.', not '.' or '..'"
        )
    out_dir = out_root / stack
    if out_root.exists() and not out_root.is_dir():
        raise StackFileError(f"{out_root} is not a directory; choose another --out")
    if out_dir.resolve().parent != out_root.resolve():
        raise StackFileError(f"{out_dir} is not directly inside {out_root}; refusing to write there")
    if out_dir.exists() and not is_render(out_dir):
        raise StackFileError(
            f"{out_dir} exists and is not the output of an earlier render; refusing to replace it "
            "(choose another --out or stack name, or remove it yourself)"
        )
    return out_dir


def is_render(directory: Path) -> bool:
    """Whether `directory` holds only what a render writes, so replacing it loses nothing else.

    `--out . ` with a stack named `.git` or `pipelines` must not replace those directories.
    """
    if directory.is_symlink() or not directory.is_dir():
        return False
    return all(
        entry.is_file() and not entry.is_symlink() and (entry.suffix == ".yaml" or entry.name in RENDER_FILES)
        for entry in directory.iterdir()
    )
