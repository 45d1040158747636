"""The fuzz's cases: the stack files as they are, then broken every way we could think of.

Deterministic (one seed): mutations of the parsed stack files and byte-level edits,
hand-written stack files, broken pipelines, and stack names that are no stack names.
"""

from __future__ import annotations

import base64
import copy
import datetime
import random
from collections.abc import Callable, Iterator
from typing import Any

import yaml

from tests.program.fuzz_driver import FUZZ_STACK
from tools.render import PROJECT_DIR

SEED = 9
MUTATIONS_PER_STACK = 125
PIPELINE_MUTATIONS = 30


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
