"""Fuzz the render with broken stack files (issue 9): a message and exit 1, never a traceback.

Hundreds of stack files made by breaking `Pulumi.qa.yaml` and `Pulumi.test.yaml` (values
of the wrong type or size, missing, unknown and duplicate keys, bytes that are not UTF-8,
documents that are not a mapping, nesting and aliases without bound, odd tags), broken
Logstash pipelines, and stack names that are no stack names. Each goes through
`tools.render.main`, with the default output root, in a copy of the project: a render
that writes or deletes where it must not is seen, and harms nothing. One process renders
case after case, as a user's shell would not, so state leaking from one render into the
next shows too. When that process dies or hangs, the case it was on is the failure and
the next process carries on after it.

This file is also the driver that process runs: `python tests/test_fuzz_render.py
<sandbox> <cases.json> <results.jsonl> <first case>`.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime
import io
import json
import os
import random
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT_FILES = [
    "__main__.py",
    "Pulumi.yaml",
    "Pulumi.qa.yaml",
    "Pulumi.test.yaml",
    "components",
    "tools",
    "pipelines",
    "scripts",
]
SEED = 9
MUTATIONS_PER_STACK = 125
PIPELINE_MUTATIONS = 30
FUZZ_STACK = "fuzz"
CASE_CPU_LIMIT = 15.0  # seconds of CPU; a render takes under 2, however busy the machine
CASE_WALL_LIMIT = 180.0  # seconds; for a case that hangs without using the CPU
MEMORY_LIMIT = 4 << 30  # bytes, so a runaway case fails alone instead of starving the machine

# label, stack name, stack file bytes (base64, "" for no --stack-file) and, for a pipeline
# case, the bytes of pipelines/fuzz.conf (base64), which the stack file names.
Case = dict[str, str]

# Values of the wrong type, size or shape for any key.
ODD_VALUES: list[Any] = [
    None,
    [],
    ["a", 1],
    {},
    {"bogus": 1},
    True,
    False,
    0,
    -1,
    10**30,
    -(10**30),
    1.5,
    float("inf"),
    float("nan"),
    "",
    " ",
    "x\n",
    "a\nb",
    "ünïcödé-😀",
    "..",
    "../../etc",
    "/abs/path",
    "a/b",
    "\x00",
    "1e1000000",
    "1E+1000000Gi",
    "-1Gi",
    "512m",
    "4096m",
    "99999999999999999999999999999",
    "1:30",
    "no",
    "${PORT:5000}",
    "a" * 300,
    # Edges that may pass validation and reach the arithmetic behind it.
    100,
    101,
    2**31,
    "0",
    "1Ei",
    "0.001",
    "1e3",
    "1.5Gi",
    "9223372036854775807",
    "100000000Ti",
    datetime.date(2024, 1, 1),
    datetime.datetime(2024, 1, 1, 12, 0),
    b"\x00\xff binary",
    [[[[[[[["deep"]]]]]]]],
]
# Keys a user might add by mistake, at any level.
ODD_KEYS = ["bogus", "node_sets", "nodeSets", "heap_size", "Replicas", "replicas", "storage_class", "", "a.b"]
STACK_NAMES = [
    "",
    ".",
    "..",
    "...",
    "a/b",
    "../x",
    "../../x",
    "{sandbox}/outside",  # an absolute path, inside the sandbox so that a write there is seen
    "qa/../qa",
    "-x",
    "--help",
    "a" * 100,
    "a" * 101,
    "ü",
    "x\n",
    " ",
    "a b",
    "\x00",
    "~",
    "$HOME",
    "build",
    ".git",
    "qa",
    "test",
]
# Whole stack files, written by hand: what the mutations of parsed YAML cannot express.
HANDWRITTEN: dict[str, bytes] = {
    "empty file": b"",
    "only a comment": b"# nothing\n",
    "top level is a list": b"- config\n- x\n",
    "top level is a scalar": b"just text\n",
    "top level is a number": b"42\n",
    "config is null": b"config:\n",
    "config is a list": b"config: [1, 2]\n",
    "config is a string": b"config: text\n",
    "two documents": b"config:\n  elk-stack:namespace: a\n---\nconfig:\n  elk-stack:namespace: b\n",
    "integer key": b"config:\n  8080: x\n",
    "null key": b"config:\n  ~: x\n",
    "bool key": b"config:\n  true: x\n",
    "float key": b"config:\n  1.5: x\n",
    "date key": b"config:\n  2024-01-01: x\n",
    "list key": b"config:\n  ? [a, b]\n  : x\n",
    "key elk-stack: alone": b'config:\n  "elk-stack:": x\n',
    "key : alone": b'config:\n  ":": x\n',
    "dotted key": b"config:\n  elk-stack:elasticsearch.heap: 2g\n",
    "misspelt prefix": b"config:\n  elk_stack:namespace: elk-x\n",
    "double colon": b"config:\n  elk-stack::namespace: elk-x\n",
    "nested non-string key": b"config:\n  elk-stack:elasticsearch:\n    8080: x\n",
    "nested null key": b"config:\n  elk-stack:elasticsearch:\n    ~: x\n",
    "duplicate top key": b"config:\n  elk-stack:namespace: a\n  elk-stack:namespace: b\n",
    "duplicate config": b"config:\n  elk-stack:namespace: a\nconfig:\n  elk-stack:namespace: b\n",
    "duplicate nested key": b"config:\n  elk-stack:elasticsearch:\n    heap: 1g\n    heap: 2g\n",
    "latin-1 comment": b"# Kibana f\xfcr QA\nconfig:\n  elk-stack:namespace: elk-x\n",
    "latin-1 value": b"config:\n  elk-stack:namespace: f\xfcr\n",
    "utf-16": "config:\n  elk-stack:namespace: elk-x\n".encode("utf-16"),
    "nul byte": b"config:\n  elk-stack:namespace: elk\x00x\n",
    "tab indent": b"config:\n\telk-stack:namespace: elk-x\n",
    "bad indent": b"config:\n  elk-stack:namespace: elk-x\n elk-stack:version: 9.4.3\n",
    "unclosed flow": b"config:\n  elk-stack:elasticsearch: {heap: 2g\n",
    "unclosed quote": b'config:\n  elk-stack:namespace: "elk-x\n',
    "recursive alias list": b"config:\n  elk-stack:elasticsearch: &a [*a]\n",
    "recursive alias map": b"config:\n  elk-stack:elasticsearch: &a {heap: *a}\n",
    "undefined alias": b"config:\n  elk-stack:elasticsearch: *nowhere\n",
    "alias bomb": (
        b"config:\n  elk-stack:x0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        + b"".join(
            f"  elk-stack:x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n".encode() for i in range(1, 9)
        )
    ),
    "deep lists": b"config:\n  elk-stack:elasticsearch: " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "deep maps": b"config:\n  elk-stack:elasticsearch: " + b"{a: " * 3000 + b"1" + b"}" * 3000 + b"\n",
    "merge key": (
        b"config:\n  elk-stack:kibana: &k {service: {type: ClusterIP}}\n"
        b"  elk-stack:logstash:\n    <<: *k\n    heap: 1g\n"
    ),
    "merge of a scalar": b"config:\n  elk-stack:logstash:\n    <<: 5\n",
    "binary": b"config:\n  elk-stack:namespace: !!binary aGVsbG8=\n",
    "python object tag": b'config:\n  elk-stack:namespace: !!python/object/apply:os.system ["touch pwned"]\n',
    "unknown tag": b"config:\n  elk-stack:namespace: !foo bar\n",
    "set": b"config:\n  elk-stack:imagePullSecrets: !!set {a, b}\n",
    "omap": b"config:\n  elk-stack:elasticsearch: !!omap [{heap: 2g}]\n",
    "explicit float overflow": b"config:\n  elk-stack:elasticsearch:\n    heap: !!float 1e1000000\n",
    "plain float overflow": b"config:\n  elk-stack:elasticsearch:\n    storage: {size: 1e1000000}\n",
    "date value": b"config:\n  elk-stack:kibana:\n    ingress: {host: 2024-01-01}\n",
    "timestamp value": b"config:\n  elk-stack:version: 2024-01-01T10:00:00Z\n",
    "secure value": b"config:\n  elk-stack:security:\n    elasticPassword: {secure: AAABAL0=}\n",
    "huge integer": b"config:\n  elk-stack:elasticsearch:\n    replicas: " + b"9" * 5000 + b"\n",
    "hex integer": b"config:\n  elk-stack:elasticsearch:\n    replicas: 0x3\n",
    "octal-looking": b"config:\n  elk-stack:elasticsearch:\n    replicas: 010\n",
    "sexagesimal": b"config:\n  elk-stack:elasticsearch:\n    replicas: 1:30\n",
    "yes/no namespace": b"config:\n  elk-stack:namespace: no\n",
    "pipeline missing": b"config:\n  elk-stack:logstash:\n    pipeline: pipelines/none.conf\n",
    "pipeline is a directory": b"config:\n  elk-stack:logstash:\n    pipeline: pipelines\n",
    "pipeline is root": b"config:\n  elk-stack:logstash:\n    pipeline: /\n",
    "pipeline is /dev/null": b"config:\n  elk-stack:logstash:\n    pipeline: /dev/null\n",
    "pipeline is /dev/zero": b"config:\n  elk-stack:logstash:\n    pipeline: /dev/zero\n",
    "pipeline outside the project": b"config:\n  elk-stack:logstash:\n    pipeline: ../../../etc/hostname\n",
    "pipeline name too long": b"config:\n  elk-stack:logstash:\n    pipeline: " + b"a" * 5000 + b".conf\n",
    "pipeline path too long": b"config:\n  elk-stack:logstash:\n    pipeline: " + b"a/" * 3000 + b"x.conf\n",
    "pipeline with nul": b'config:\n  elk-stack:logstash:\n    pipeline: "pipelines/\\0.conf"\n',
    "pipeline is the stack file": b"config:\n  elk-stack:logstash:\n    pipeline: Pulumi.qa.yaml\n",
    "pipeline is a list": b"config:\n  elk-stack:logstash:\n    pipeline: [a, b]\n",
    "long line": b"config:\n  elk-stack:namespace: " + b"x" * 1_000_000 + b"\n",
    "many keys": b"config:\n" + b"".join(f"  elk-stack:k{i}: v\n".encode() for i in range(5000)),
}
PIPELINE_TOKENS = [b"{", b"}", b'"', b"#", b"=>", b"\n", b"port => 99999", b"input { udp {", b"\xff", b"\x00"]
OUTPUT = b'output { elasticsearch { hosts => ["${ELASTICSEARCH_HOSTS}"] } }\n'
HANDWRITTEN_PIPELINES: dict[str, bytes] = {
    "empty": b"",
    "only comments": b"# nothing\n",
    "unclosed input": b"input {\n  tcp { port => 5000\n",
    "stray closing braces": b"input { tcp { port => 5000 } } }}}\n" + OUTPUT,
    "port 0": b"input { tcp { port => 0 } }\n" + OUTPUT,
    "port 65536": b"input { tcp { port => 65536 } }\n" + OUTPUT,
    "port -1": b"input { tcp { port => -1 } }\n" + OUTPUT,
    "port 10**30": b"input { tcp { port => 1000000000000000000000000000000 } }\n" + OUTPUT,
    "port is text": b'input { tcp { port => "abc" } }\n' + OUTPUT,
    "port is a quoted number": b'input { tcp { port => "5000" } }\n' + OUTPUT,
    "port is a list": b"input { tcp { port => [5000, 5001] } }\n" + OUTPUT,
    "port is a float": b"input { tcp { port => 5000.5 } }\n" + OUTPUT,
    "port is a hash": b'input { tcp { port => { "a" => 1 } } }\n' + OUTPUT,
    "port given twice": b"input { tcp { port => 5000 port => 5001 } }\n" + OUTPUT,
    "port with no value": b"input { tcp { port => } }\n" + OUTPUT,
    "duplicate ports": b"input { tcp { port => 5000 } tcp { port => 5000 } }\n" + OUTPUT,
    "the API port": b"input { tcp { port => 9600 } }\n" + OUTPUT,
    "udp and tcp on one port": b"input { tcp { port => 5000 } udp { port => 5000 } }\n" + OUTPUT,
    "environment port": b'input { tcp { port => "${PORT:5000}" } }\n' + OUTPUT,
    "environment port, no default": b'input { tcp { port => "${PORT}" } }\n' + OUTPUT,
    "nested add_field": b'input { beats { port => 5044 add_field => { "a" => "b" } } }\n' + OUTPUT,
    "codec block": b'input { tcp { port => 5000 codec => json_lines { target => "doc" } } }\n' + OUTPUT,
    "no listening input": b'input { kafka { topics => ["logs"] } }\n' + OUTPUT,
    "plugin name not DNS": b"input { My_Plugin-\xc3\x9c { port => 5000 } }\n" + OUTPUT,
    "very long plugin name": b"input { " + b"a" * 300 + b" { port => 5000 } }\n" + OUTPUT,
    "conditional": b'input { tcp { port => 5000 } }\nfilter { if [a] == "}" { drop {} } }\n' + OUTPUT,
    "brace in a string": b'input { tcp { port => 5000 tags => ["}{"] } }\n' + OUTPUT,
    "brace in a comment": b"input { tcp { port => 5000 } # }\n}\n" + OUTPUT,
    "unterminated string": b'input { tcp { port => 5000 tags => ["x] } }\n' + OUTPUT,
    "many inputs": b"input {\n" + b"".join(b"tcp { port => %d }\n" % (6000 + i) for i in range(300)) + b"}\n",
    "deep braces": b"input { " + b"a { " * 3000 + b"}" * 3000 + b" }\n" + OUTPUT,
    "deep arrays": b"input { tcp { port => 5000 tags => " + b"[" * 800 + b"]" * 800 + b" } }\n" + OUTPUT,
    "deep conditionals": b"filter {\n" + b"if [a] {\n" * 3000 + b"}\n" * 3001 + OUTPUT,
    "deep codecs": b"input { tcp { codec => " + b"c { x => " * 3000 + b"1" + b" }" * 3000 + b" } }\n",
    "larger than a ConfigMap holds": b"# x\n" * 300_000 + b"input { tcp { port => 5000 } }\n" + OUTPUT,
    "not UTF-8": b"# f\xfcr QA\ninput { tcp { port => 5000 } }\n" + OUTPUT,
    "nul byte": b"input { tcp { port => 5000\x00 } }\n" + OUTPUT,
    "CRLF": b"input {\r\n  tcp {\r\n    port => 5000\r\n  }\r\n}\r\n" + OUTPUT,
    "BOM": b"\xef\xbb\xbfinput { tcp { port => 5000 } }\n" + OUTPUT,
    "tabs": b"input {\n\ttcp {\n\t\tport => 5000\n\t}\n}\n" + OUTPUT,
    "index outside the user's rights": (
        b'input { tcp { port => 5000 } }\noutput { elasticsearch { index => "myapp-%{+YYYY.MM.dd}" } }\n'
    ),
}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path (keys and list indexes) into a parsed document, the document itself excluded."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in items:
        yield (*prefix, key)
        yield from _paths(child, (*prefix, key))


def _parent(document: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        document = document[key]
    return document


def _mappings(document: Any) -> list[tuple[Any, ...]]:
    """Paths of every mapping under `config`, `config` included."""
    paths = [("config",), *(p for p in _paths(document["config"], ("config",)))]
    return [p for p in paths if isinstance(_parent(document, (*p, None)), dict)]


def _replace(rng: random.Random, document: dict[str, Any]) -> str:
    path = rng.choice(list(_paths(document["config"], ("config",))))
    value = rng.choice(ODD_VALUES)
    _parent(document, path)[path[-1]] = copy.deepcopy(value)
    return f"{'.'.join(map(str, path[1:]))} = {value!r:.60}"


def _delete(rng: random.Random, document: dict[str, Any]) -> str:
    path = rng.choice(list(_paths(document["config"], ("config",))))
    del _parent(document, path)[path[-1]]
    return f"delete {'.'.join(map(str, path[1:]))}"


def _add_key(rng: random.Random, document: dict[str, Any]) -> str:
    path = rng.choice(_mappings(document))
    key, value = rng.choice(ODD_KEYS), rng.choice(ODD_VALUES)
    if path == ("config",):
        key = f"elk-stack:{key}"
    _parent(document, (*path, None))[key] = copy.deepcopy(value)
    return f"add {'.'.join(map(str, (*path[1:], key)))} = {value!r:.60}"


def _rename_key(rng: random.Random, document: dict[str, Any]) -> str:
    path = rng.choice([p for p in _paths(document["config"], ("config",)) if isinstance(p[-1], str)])
    parent, old = _parent(document, path), path[-1]
    candidates = {old.upper(), old.lower(), old + "s", old[:-1], old.replace("elk-stack:", "")} - {old}
    new = rng.choice(sorted(candidates))
    parent[new] = parent.pop(old)
    return f"rename {'.'.join(map(str, path[1:]))} to {new}"


def _several(rng: random.Random, document: dict[str, Any]) -> str:
    steps = [rng.choice([_replace, _delete, _add_key])(rng, document) for _ in range(rng.randint(2, 4))]
    return "; ".join(steps)


def _text_edit(rng: random.Random, text: bytes) -> tuple[str, bytes]:
    """A byte-level edit: duplicated line, flipped byte, truncation, stray indentation."""
    lines = text.splitlines(keepends=True)
    kind = rng.choice(["duplicate line", "flip byte", "truncate", "indent", "drop colon"])
    index = rng.randrange(len(lines))
    if kind == "duplicate line":
        lines.insert(index, lines[index])
    elif kind == "indent":
        lines[index] = b"   " + lines[index]
    elif kind == "drop colon":
        lines[index] = lines[index].replace(b":", b"", 1)
    elif kind == "flip byte":
        position = rng.randrange(len(text))
        return f"byte {position} = 0xff", text[:position] + b"\xff" + text[position + 1 :]
    else:
        position = rng.randrange(len(text))
        return f"truncate at {position}", text[:position]
    return f"{kind} {index + 1}", b"".join(lines)


def _dump(document: Any) -> bytes:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=1000).encode()


def _encode(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _pipeline_edit(rng: random.Random, text: bytes) -> tuple[str, bytes]:
    """Drop a character that gives the pipeline its structure, or insert a stray token."""
    if rng.random() < 0.5:
        positions = [i for i, byte in enumerate(text) if chr(byte) in '{}"#=>[]']
        position = rng.choice(positions)
        return f"drop {chr(text[position])!r} at {position}", text[:position] + text[position + 1 :]
    token = rng.choice(PIPELINE_TOKENS)
    position = rng.randrange(len(text))
    return f"insert {token!r:.40} at {position}", text[:position] + token + text[position:]


def pipeline_cases(rng: random.Random) -> list[Case]:
    """The test stack with `logstash.pipeline: pipelines/fuzz.conf`, and that file broken."""
    document = yaml.safe_load((PROJECT_DIR / "Pulumi.test.yaml").read_bytes())
    document["config"]["elk-stack:logstash"]["pipeline"] = "pipelines/fuzz.conf"
    stack_file = _encode(_dump(document))
    original = (PROJECT_DIR / "pipelines" / "spring-boot-json.conf").read_bytes()
    pipelines = {"spring-boot-json.conf unchanged": original, **HANDWRITTEN_PIPELINES}
    for _ in range(PIPELINE_MUTATIONS):
        label, text = _pipeline_edit(rng, original)
        pipelines[f"spring-boot-json.conf: {label}"] = text
    return [
        {"label": f"pipeline {label}", "stack": FUZZ_STACK, "file": stack_file, "pipeline": _encode(text)}
        for label, text in pipelines.items()
    ]


def generate_cases(seed: int = SEED) -> list[Case]:
    """Deterministic cases: the two stack files as they are, then everything broken."""
    rng = random.Random(seed)
    cases: list[Case] = []
    for stack in ("qa", "test"):
        text = (PROJECT_DIR / f"Pulumi.{stack}.yaml").read_bytes()
        cases.append({"label": f"Pulumi.{stack}.yaml unchanged", "stack": FUZZ_STACK, "file": _encode(text)})
    mutations: list[Callable[[random.Random, dict[str, Any]], str]] = [
        _replace,
        _replace,
        _replace,
        _delete,
        _add_key,
        _rename_key,
        _several,
    ]
    for stack in ("qa", "test"):
        text = (PROJECT_DIR / f"Pulumi.{stack}.yaml").read_bytes()
        original = yaml.safe_load(text)
        for _ in range(MUTATIONS_PER_STACK):
            if rng.random() < 0.15:
                label, data = _text_edit(rng, text)
            else:
                document = copy.deepcopy(original)
                label, data = rng.choice(mutations)(rng, document), _dump(document)
            cases.append(
                {"label": f"Pulumi.{stack}.yaml: {label}", "stack": FUZZ_STACK, "file": _encode(data)}
            )
    for label, data in HANDWRITTEN.items():
        cases.append({"label": label, "stack": FUZZ_STACK, "file": _encode(data)})
    cases += pipeline_cases(rng)
    qa = _encode((PROJECT_DIR / "Pulumi.qa.yaml").read_bytes())
    for name in STACK_NAMES:
        cases.append({"label": f"stack name {name!r:.40} with --stack-file", "stack": name, "file": qa})
        cases.append({"label": f"stack name {name!r:.40}, its own stack file", "stack": name, "file": ""})
    return cases


# --- The driver: runs in its own process, inside the sandbox. ---


def _tree(root: Path) -> dict[str, tuple[int, int] | None]:
    """Each path under `root`: size and mtime for files, None for directories."""
    found: dict[str, tuple[int, int] | None] = {}
    for directory, subdirectories, files in os.walk(root):
        base = Path(directory)
        for name in subdirectories:
            found[str((base / name).relative_to(root))] = None
        for name in files:
            path = base / name
            stat = path.lstat()
            found[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return found


def _changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    created = [f"created {p}" for p in after.keys() - before.keys()]
    removed = [f"removed {p}" for p in before.keys() - after.keys()]
    changed = [f"changed {p}" for p in before.keys() & after.keys() if before[p] != after[p]]
    return sorted(created + removed + changed)


def _run_main(main: Callable[[list[str]], int], argv: list[str]) -> dict[str, Any]:
    """main's exit status and output; whatever escapes it, with its traceback."""
    out, err, unraisable = io.StringIO(), io.StringIO(), []
    previous_hook = sys.unraisablehook
    sys.unraisablehook = lambda report: unraisable.append(f"{report.err_msg}: {report.exc_value!r}")
    status, escaped = None, ""
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(argv)
    except KeyboardInterrupt:
        raise
    except SystemExit as error:
        escaped = f"SystemExit({error.code!r})"
    except BaseException:  # anything escaping main is what we are looking for
        escaped = traceback.format_exc()
    finally:
        sys.unraisablehook = previous_hook
    return {
        "status": status,
        "escaped": escaped,
        "stdout": out.getvalue(),
        "stderr": err.getvalue(),
        "unraisable": unraisable,
    }


def drive(sandbox: Path, cases_path: Path, results_path: Path, first: int) -> None:
    """Run cases from `first` on, one JSON line when each starts and one with its outcome."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    project = sandbox / "project"
    sys.path.insert(0, str(project))
    from tools.render import main

    cases = json.loads(cases_path.read_text())
    stack_file = sandbox / "input" / f"Pulumi.{FUZZ_STACK}.yaml"
    with results_path.open("a") as results:
        for index in range(first, len(cases)):
            case = cases[index]
            stack_file.write_bytes(base64.b64decode(case["file"]))
            if "pipeline" in case:
                (project / "pipelines" / "fuzz.conf").write_bytes(base64.b64decode(case["pipeline"]))
            argv = ["--out", str(project / "build")]
            argv += ["--stack-file", str(stack_file)] if case["file"] else []
            before = _tree(sandbox)
            results.write(json.dumps({"start": index}) + "\n")
            results.flush()
            cpu = time.process_time()
            outcome = _run_main(main, [*argv, "--", case["stack"].replace("{sandbox}", str(sandbox))])
            outcome["cpu"] = round(time.process_time() - cpu, 3)
            outcome["changes"] = _changes(before, _tree(sandbox))
            results.write(json.dumps({"index": index, **outcome}) + "\n")
            results.flush()


# --- The test: runs the driver, restarts it after a crash or hang, judges each outcome. ---


def _sandbox(root: Path) -> Path:
    """A copy of the program, with a previous render and a file of our own in build/."""
    project = root / "sandbox" / "project"
    for name in PROJECT_FILES:
        source = PROJECT_DIR / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            project.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, project / name)
    (root / "sandbox" / "input").mkdir()
    (project / "build").mkdir()
    (project / "build" / "keep.txt").write_text("not the render's\n")
    return root / "sandbox"


def _read_results(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a running process, from /proc (0 where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _watch(driver: subprocess.Popen[bytes], results_path: Path) -> None:
    """Wait for the driver; kill it when one case runs past the CPU or wall-clock limit."""
    started, since_cpu, since_wall, offset = None, 0.0, time.monotonic(), 0
    while driver.poll() is None:
        time.sleep(0.1)
        with results_path.open("rb") as results:
            results.seek(offset)
            new = results.read()
        complete = new[: new.rfind(b"\n") + 1]
        offset += len(complete)
        for line in complete.splitlines():
            record = json.loads(line)
            started = record.get("start")
            since_cpu, since_wall = _cpu_seconds(driver.pid), time.monotonic()
        if started is None:
            continue
        cpu, wall = _cpu_seconds(driver.pid) - since_cpu, time.monotonic() - since_wall
        if cpu > CASE_CPU_LIMIT or wall > CASE_WALL_LIMIT:
            driver.kill()
            driver.wait()


def run_cases(tmp_path: Path, cases: list[Case]) -> tuple[dict[int, dict[str, Any]], str]:
    """Every case's outcome, and what the driver processes printed outside any case."""
    sandbox = _sandbox(tmp_path)
    cases_path, results_path = tmp_path / "cases.json", tmp_path / "results.jsonl"
    cases_path.write_text(json.dumps(cases))
    results_path.touch()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
    outcomes: dict[int, dict[str, Any]] = {}
    stray_output, first = "", 0
    while first < len(cases):
        log = tmp_path / f"driver-{first}.log"
        with log.open("w") as log_file:
            driver = subprocess.Popen(
                [sys.executable, __file__, str(sandbox), str(cases_path), str(results_path), str(first)],
                cwd=sandbox / "project",
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
            _watch(driver, results_path)
        for record in _read_results(results_path):
            if "index" in record:
                outcomes[record["index"]] = record
        stray_output += log.read_text()
        starts = [r["start"] for r in _read_results(results_path) if "start" in r]
        unfinished = [i for i in starts if i not in outcomes]
        if unfinished:
            crashed = unfinished[-1]
            why = "ran past the time limit" if driver.returncode == -9 else "killed the render"
            outcomes[crashed] = {
                "crashed": f"{why} (exit {driver.returncode}); output:\n{log.read_text()[-2000:]}"
            }
            first = crashed + 1
        elif driver.returncode != 0:
            raise AssertionError(f"the fuzz driver failed outside any case:\n{log.read_text()[-3000:]}")
        else:
            first = len(cases)
    return outcomes, stray_output


def _allowed(change: str, stack: str, status: int | None) -> bool:
    """A successful render may change `build/<stack>/` and create `build/`, nothing else."""
    path = change.split(" ", 1)[1]
    if status != 0 or "/" in stack or stack in {"", ".", ".."}:
        return False
    return (
        path == "project/build"
        or path == f"project/build/{stack}"
        or path.startswith(f"project/build/{stack}/")
    )


def problems(outcome: dict[str, Any], stack: str) -> list[str]:
    """What is wrong with one case's outcome; empty when it is a clean render or a clean refusal."""
    if "crashed" in outcome:
        return [outcome["crashed"]]
    found = []
    status, stderr = outcome["status"], outcome["stderr"]
    if outcome["escaped"]:
        found.append(f"escaped main: {outcome['escaped']}")
    elif status not in (0, 1):
        found.append(f"exit status {status!r}")
    errors = sum(line.startswith("error:") for line in stderr.splitlines())
    if errors != (1 if status == 1 else 0):
        found.append(f"exit {status} with {errors} `error:` lines, not one message")
    if "Traceback" in stderr + outcome["stdout"]:
        found.append("a traceback was printed")
    if outcome["unraisable"] or "Exception ignored" in stderr:
        found.append(f"exceptions ignored: {outcome['unraisable']}")
    wrong = [c for c in outcome["changes"] if not _allowed(c, stack, status)]
    if wrong:
        found.append(f"wrote or removed outside build/<name>/ (or on failure): {wrong[:8]}")
    rendered = [c for c in outcome["changes"] if c.split(" ", 1)[1].startswith(f"project/build/{stack}/")]
    if status == 0 and not rendered:
        found.append("exit 0 but nothing was rendered")
    return found


def _describe(case: Case, found: list[str], stderr: str) -> str:
    data = base64.b64decode(case["file"]) if case["file"] else None
    shown = "(its own Pulumi.<name>.yaml)" if data is None else repr(data[:400])
    if "pipeline" in case:
        shown += f", pipelines/fuzz.conf {base64.b64decode(case['pipeline'])[:400]!r}"
    return (
        f"- {case['label']}\n  stack name {case['stack']!r:.60}, stack file {shown}\n"
        + "".join(f"  {line}\n" for problem in found for line in problem.splitlines()[-12:])
        + (f"  stderr: {stderr[-600:]!r}\n" if stderr else "")
    )


def test_broken_stack_files_get_a_message_never_a_traceback_and_write_only_build_name(tmp_path: Path) -> None:
    cases = generate_cases()
    outcomes, stray_output = run_cases(tmp_path, cases)
    assert len(outcomes) == len(cases) >= 400
    failures = [
        _describe(case, found, outcomes[i].get("stderr", ""))
        for i, case in enumerate(cases)
        if (found := problems(outcomes[i], case["stack"]))
    ]
    statuses = [outcomes[i].get("status") for i in range(len(cases))]
    # A fuzz whose cases all fail, or all pass, at one early check would test nothing.
    assert statuses[:2] == [0, 0], "the unchanged stack files must render"
    assert statuses.count(1) > len(cases) // 2
    assert not failures, f"{len(failures)} of {len(cases)} cases failed:\n" + "".join(failures)
    assert "Traceback" not in stray_output and "Exception ignored" not in stray_output, stray_output


CLEAN_REFUSAL = {
    "status": 1,
    "escaped": "",
    "stdout": "",
    "stderr": "error: bad\n",
    "unraisable": [],
    "changes": [],
}
CLEAN_RENDER = {**CLEAN_REFUSAL, "status": 0, "stderr": "", "changes": ["created project/build/fuzz/a.yaml"]}


@pytest.mark.parametrize(
    "outcome",
    [
        {**CLEAN_REFUSAL, "status": None, "escaped": "Traceback ...\nValueError: x"},
        {**CLEAN_REFUSAL, "status": None, "escaped": "SystemExit(2)"},
        {**CLEAN_REFUSAL, "status": 2},
        {**CLEAN_REFUSAL, "stderr": "bad\n"},
        {**CLEAN_REFUSAL, "stderr": "error: bad\nerror: worse\n"},
        {**CLEAN_RENDER, "stderr": "error: bad\n"},
        {**CLEAN_REFUSAL, "stderr": "error: bad\nTraceback (most recent call last):\n"},
        {**CLEAN_REFUSAL, "unraisable": ["Exception ignored in: ..."]},
        {**CLEAN_REFUSAL, "changes": ["changed project/build/fuzz/a.yaml"]},
        {**CLEAN_RENDER, "changes": ["removed project/build/keep.txt", "created project/build/fuzz/a.yaml"]},
        {
            **CLEAN_RENDER,
            "changes": ["created project/build/.fuzz-x1y2", "created project/build/fuzz/a.yaml"],
        },
        {
            **CLEAN_RENDER,
            "changes": ["removed project/components/base.py", "created project/build/fuzz/a.yaml"],
        },
        {**CLEAN_RENDER, "changes": []},
        {**CLEAN_RENDER, "changes": ["created input/pwned", "created project/build/fuzz/a.yaml"]},
        {"crashed": "killed the render (exit -11)"},
    ],
)
def test_the_fuzz_sees_each_kind_of_failure(outcome: dict[str, Any]) -> None:
    assert problems(CLEAN_REFUSAL, FUZZ_STACK) == []
    assert problems(CLEAN_RENDER, FUZZ_STACK) == []
    assert problems(outcome, FUZZ_STACK) != []


@pytest.mark.parametrize("stack", ["..", ".", "", "a/b"])
def test_the_fuzz_allows_no_write_for_a_name_that_is_no_plain_directory(stack: str) -> None:
    render = {**CLEAN_RENDER, "changes": [f"created project/build/{stack}/a.yaml"]}
    assert problems(render, stack) != []


if __name__ == "__main__":
    drive(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
