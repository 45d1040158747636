"""What a Logstash pipeline file means for the deployment: its ports, variables and writes.

The Service must expose exactly the ports the pipeline listens on, each with its protocol.
Reading them from the parsed `.conf` file keeps one source of truth: a port changed in
the pipeline moves the Service with it. Which inputs listen, on which protocol and with
which default port, comes from each plugin's documentation; an input not known here that
sets `port` is taken to listen on TCP, as most network inputs do.
"""

from __future__ import annotations

import itertools
import operator
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from components.configuration import lscl

API_PORT = 9600
# The pipeline travels to Logstash in a ConfigMap, and Kubernetes refuses a ConfigMap whose
# data exceeds 1 MiB in total; 1000 KiB leaves room for the logstash.yml beside it. Reading
# at most this much also keeps a huge file from filling memory before it is refused.
MAX_PIPELINE_BYTES = 1000 * 1024
MAX_PORT_NAME = 15
# Plugin -> (default port, or None when `port` is required; protocols it listens on).
LISTENERS: dict[str, tuple[int | None, tuple[str, ...]]] = {
    "beats": (None, ("TCP",)),
    "elastic_agent": (None, ("TCP",)),
    "elastic_serverless_forwarder": (None, ("TCP",)),
    "ganglia": (8649, ("UDP",)),
    "graphite": (None, ("TCP",)),
    "http": (8080, ("TCP",)),
    "log4j": (4560, ("TCP",)),
    "logstash": (9800, ("TCP",)),
    "lumberjack": (None, ("TCP",)),
    "relp": (None, ("TCP",)),
    "snmptrap": (1062, ("UDP",)),
    "syslog": (514, ("TCP", "UDP")),
    "tcp": (None, ("TCP",)),
    "udp": (None, ("UDP",)),
}
# Inputs whose `port` is a server they connect to, not one they listen on.
CLIENTS = {"imap", "irc", "rabbitmq", "redis", "stomp"}
# Inputs that connect out instead of listening when `mode => client`.
CLIENT_MODE = {"graphite", "log4j", "tcp"}
GELF_PORT = 12201
SHIPPED_PIPELINES = (
    "pipelines/spring-boot-json.conf",
    "pipelines/spring-boot-json-http.conf",
    "pipelines/spring-boot-json-insecure.conf",
    "pipelines/spring-boot-json-before-8.8.conf",
)
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<default>[^}]*))?\}")
# What Logstash takes for a number given as a string: it must read back the same (mixin.rb).
_LOGSTASH_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)", re.ASCII)
_SPRINTF = re.compile(r"%\{[^}]*\}")


@dataclass(frozen=True)
class ListeningPort:
    """A port the pipeline listens on, named for the Service and the container."""

    name: str
    port: int
    protocol: str


def read_pipeline(project_dir: Path, relative: str) -> str:
    """The pipeline file's text, or a ValueError that says plainly why it cannot be read."""
    if not relative.strip():
        raise ValueError("is empty; name a `.conf` file, or remove the key for the shipped pipeline")
    path = project_dir / relative
    try:
        return _read_regular_file(path).decode("utf-8")
    except _UnfitFileError as error:
        problem = str(error)
    except FileNotFoundError:
        problem = f"does not exist (looked in {project_dir.resolve()})"
    except IsADirectoryError:
        problem = "is a directory, not a file"
    except PermissionError:
        problem = "cannot be read (permission denied)"
    except UnicodeDecodeError as error:
        problem = f"is not UTF-8 text (byte {error.start})"
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        problem = f"cannot be read: {reason}"
    shown = relative if len(relative) <= 80 else f"{relative[:60]}... ({len(relative)} characters)"
    raise ValueError(f"pipeline file {shown!r} {problem}")


class _UnfitFileError(ValueError):
    """The path is not a regular file, or one too large for a ConfigMap."""


def _read_regular_file(path: Path) -> bytes:
    """The file's bytes, refusing devices, pipes, sockets and anything over MAX_PIPELINE_BYTES.

    The file is opened without blocking (a named pipe would wait for a writer), checked on
    the open descriptor (no race with a swap after a check by name), and read with a bound
    (a file that grows after the check is still cut off).
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(descriptor, "rb") as file:
        mode = os.fstat(descriptor).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(path)
        if not stat.S_ISREG(mode):
            raise _UnfitFileError("is not a regular file (a device, pipe or socket); name a `.conf` file")
        data = file.read(MAX_PIPELINE_BYTES + 1)
    if len(data) > MAX_PIPELINE_BYTES:
        raise _UnfitFileError(
            f"is larger than {MAX_PIPELINE_BYTES // 1024} KiB: the pipeline goes to Logstash in a "
            "ConfigMap, which Kubernetes limits to 1 MiB; keep large lookup data "
            "(e.g. translate dictionaries) out of it"
        )
    return data


def parse_pipeline(text: str) -> lscl.Config:
    """The parsed pipeline, or a ValueError naming the line where Logstash would stop."""
    try:
        return lscl.parse(text)
    except lscl.PipelineSyntaxError as error:
        raise ValueError(f"not a valid Logstash pipeline: {error}") from None


def _flag(value: lscl.Value | None, default: bool) -> bool:
    """A boolean setting, written `true` or `"true"`."""
    return default if value is None else str(value).lower() == "true"


def _port_number(value: lscl.Value | None) -> int | str | None:
    """The port a setting gives, the default of `${VAR:default}`, None for `${VAR}`, or a problem.

    A string is a number to Logstash only if it reads back the same (`"5000"`; not
    `"05000"`, `" 5000"`, `"+5000"` or other digits than ASCII), checked after a variable
    is replaced, as in its `validate_value`; a setting given twice is a list, which a
    number setting refuses.
    """
    if isinstance(value, list):
        return f"{value!r} is not a port number (the setting is given more than once)"
    if isinstance(value, bool) or not isinstance(value, int | str):
        return f"{value!r} is not a port number"
    if isinstance(value, int):
        number = value
    else:
        variable = _VARIABLE.fullmatch(value)
        text = value if variable is None else variable["default"]
        if text is None:
            return None  # `${PORT}` without a default: reported with the other variables
        if not _LOGSTASH_INTEGER.fullmatch(text):
            return f"{value!r} is not a port number (Logstash reads only plain digits, without a leading 0)"
        number = int(text)
    return number if 1 <= number <= 65535 else f"{number} is not a port between 1 and 65535"


def _plugin_ports(plugin: lscl.Plugin) -> list[tuple[str, lscl.Value | None, int | None]]:
    """(protocol, the setting's value, default port) for each socket an input plugin opens."""
    if plugin.name in CLIENTS or (plugin.name in CLIENT_MODE and plugin.get("mode") == "client"):
        return []
    if plugin.name == "gelf":
        port = plugin.get("port")
        sockets: list[tuple[str, lscl.Value | None, int | None]] = []
        if _flag(plugin.get("use_tcp"), False):
            sockets.append(("TCP", plugin.get("port_tcp") or port, GELF_PORT))
        if _flag(plugin.get("use_udp"), True):
            sockets.append(("UDP", plugin.get("port_udp") or port, GELF_PORT))
        return sockets
    default, protocols = LISTENERS.get(plugin.name, (None, ("TCP",)))
    if plugin.name not in LISTENERS and plugin.get("port") is None:
        return []
    return [(protocol, plugin.get("port"), default) for protocol in protocols]


def port_name(plugin: str, protocol: str, several: bool, taken: set[str]) -> str:
    """A Kubernetes port name (IANA_SVC_NAME) for a plugin, unique among `taken`.

    Lower-case letters, digits and single inner '-', at most 15 characters, at least one
    letter; a plugin listening on both protocols gets `-tcp`/`-udp`, a repeat `-2`, `-3`.
    """
    base = re.sub(r"[^a-z0-9]+", "-", plugin.lower()).strip("-")
    if not re.search(r"[a-z]", base):
        base = "port"
    if several:
        base = f"{base[: MAX_PORT_NAME - 4].rstrip('-')}-{protocol.lower()}"
    name, number = base[:MAX_PORT_NAME].rstrip("-"), 2
    while name in taken:
        suffix = f"-{number}"
        name, number = base[: MAX_PORT_NAME - len(suffix)].rstrip("-") + suffix, number + 1
    return name


def listening_ports(text: str) -> list[ListeningPort]:
    """Every port the pipeline's inputs listen on; a ValueError lists every problem."""
    return ports_of(parse_pipeline(text))


def ports_of(pipeline: lscl.Config) -> list[ListeningPort]:
    """Every port the parsed pipeline's inputs listen on; a ValueError lists every problem.

    Ports must be 1..65535, unique per protocol, and leave Logstash's API port free.
    """
    ports: list[ListeningPort] = []
    problems: list[str] = []
    taken = {"api"}  # the container's API port
    seen: dict[tuple[int, str], str] = {(API_PORT, "TCP"): "Logstash's API (api.http.port)"}
    for plugin in pipeline.sections["input"]:
        sockets = _plugin_ports(plugin)
        where = f"input {plugin.name} (line {plugin.line})"
        for protocol, value, default in sockets:
            number = default if value is None else _port_number(value)
            if value is None and number is None:
                problems.append(f"{where} needs a `port`")
                continue
            if number is None:
                continue
            if isinstance(number, str):
                problems.append(f"{where}: {number}")
                continue
            if (number, protocol) in seen:
                problems.append(
                    f"{where}: {protocol} port {number} is already used by {seen[number, protocol]}"
                )
                continue
            seen[number, protocol] = where
            name = port_name(plugin.name, protocol, len(sockets) > 1, taken)
            taken.add(name)
            ports.append(ListeningPort(name, number, protocol))
    if problems:
        raise ValueError("; ".join(problems))
    return ports


# The environment variables the Logstash component sets for a pipeline, and when.
PIPELINE_VARIABLES = {
    "ELASTICSEARCH_HOSTS": "always",
    "ELASTICSEARCH_USER": "when security.enabled is true",
    "ELASTICSEARCH_PASSWORD": "when security.enabled is true",
    "ELASTICSEARCH_CA": "when security.enabled and elasticsearch.tls.http are true",
}


def pipeline_variables(security: bool, https: bool) -> set[str]:
    """The variables set for a security mode; a pipeline may use only these."""
    names = {"ELASTICSEARCH_HOSTS"}
    if security:
        names |= {"ELASTICSEARCH_USER", "ELASTICSEARCH_PASSWORD"}
    if https:
        names.add("ELASTICSEARCH_CA")
    return names


def _strings(value: lscl.Value | None) -> list[str]:
    """Every string inside a setting's value, where Logstash replaces `${VAR}`."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, lscl.Plugin):
        return [text for _, item in value.attributes for text in _strings(item)]
    return []


def referenced_variables(text: str) -> list[str]:
    """`${NAME}` references without a default, which Logstash refuses to start without."""
    return variables_of(parse_pipeline(text))


def variables_of(pipeline: lscl.Config) -> list[str]:
    """`${NAME}` references of the parsed pipeline without a default."""
    plugins = [p for section in pipeline.sections.values() for p in section]
    found = {
        match["name"]
        for plugin in plugins
        for string in _strings(plugin)
        for match in _VARIABLE.finditer(string)
        if match["default"] is None
    }
    return sorted(found)


def default_pipeline(variables: set[str], version: tuple[int, ...]) -> str:
    """The shipped Spring Boot pipeline whose output matches the security mode and Logstash's options."""
    if "ELASTICSEARCH_CA" in variables:
        return SHIPPED_PIPELINES[0] if version >= SSL_OPTIONS_SINCE else SHIPPED_PIPELINES[3]
    if "ELASTICSEARCH_USER" in variables:
        return SHIPPED_PIPELINES[1]
    return SHIPPED_PIPELINES[2]


@dataclass(frozen=True)
class WriteTarget:
    """Where one `elasticsearch` output writes: what it is, as written, and as a pattern."""

    line: int
    kind: str
    written: str
    pattern: str


def _as_pattern(name: str) -> str:
    """A name with its per-event parts (`%{...}`, `${VAR}`) as `*`; a variable's default is kept."""
    name = _VARIABLE.sub(lambda m: m["default"] if m["default"] is not None else "*", name)
    return _SPRINTF.sub("*", name)


def write_targets(text: str) -> list[WriteTarget]:
    """The index or data stream each `elasticsearch` output writes to."""
    return writes_of(parse_pipeline(text))


def writes_of(pipeline: lscl.Config) -> list[WriteTarget]:
    """The index or data stream each `elasticsearch` output of the parsed pipeline writes to.

    `data_stream` unset means "auto": a data stream unless `index` is given. The data
    stream's name is `type-dataset-namespace`, each defaulting as the plugin documents.
    """
    targets = []
    for plugin in pipeline.sections["output"]:
        if plugin.name != "elasticsearch":
            continue
        index, alias = plugin.get("index"), plugin.get("ilm_rollover_alias")
        mode = str(plugin.get("data_stream") or "auto").lower()
        if mode == "true" or (mode == "auto" and index is None and alias is None):
            parts = [
                str(plugin.get(f"data_stream_{part}") or default)
                for part, default in (("type", "logs"), ("dataset", "generic"), ("namespace", "default"))
            ]
            written, kind = "-".join(parts), "data stream"
        elif alias is not None:
            written, kind = str(alias), "rollover alias"
        else:
            written, kind = str(index or "ecs-logstash-%{+yyyy.MM.dd}"), "index"
        targets.append(WriteTarget(plugin.line, kind, written, _as_pattern(written)))
    return targets


def covers(allowed: str, pattern: str) -> bool:
    """Whether every name matching `pattern` matches the privilege pattern `allowed`.

    A `*` in `pattern` stands for any text, so only a `*` in `allowed` can match it. A
    regular expression (`/.../`) in `allowed` is not judged and counts as covering.
    """
    if allowed.startswith("/"):
        return True
    # matched[p]: whether the part of `allowed` read so far matches pattern[:p]. One pass per
    # character, without recursion: a pattern of a few hundred `*` once exhausted the stack.
    matched = [True] + [False] * len(pattern)
    for char in allowed:
        if char == "*":
            matched = list(itertools.accumulate(matched, operator.or_))
        else:
            matched = [False] + [matched[p] and pattern[p] == char for p in range(len(pattern))]
    return matched[-1]


def uncovered_writes(text: str, allowed: list[str]) -> list[WriteTarget]:
    """The outputs that write where none of the `allowed` patterns reaches."""
    return uncovered(write_targets(text), allowed)


def uncovered(writes: list[WriteTarget], allowed: list[str]) -> list[WriteTarget]:
    """Of `writes`, those none of the `allowed` patterns reaches."""
    return [t for t in writes if not any(covers(a, t.pattern) for a in allowed)]


def write_warning(pipeline: str, target: WriteTarget, allowed: list[str], defaulted: bool) -> str:
    """The render-time warning for a write the Logstash user has no privilege for."""
    default = " (the default)" if defaulted else ""
    return (
        f"logstash.pipeline: {pipeline} line {target.line} writes to the {target.kind} "
        f"{target.written!r}, which security.logstashIndices {allowed}{default} does not cover: "
        "Elasticsearch will refuse these events (403) at run time. Add a matching pattern to "
        "security.logstashIndices, or write to a name that matches one."
    )


@dataclass(frozen=True)
class PipelineFacts:
    """What the deployment needs from one pipeline file, read and parsed once.

    Its listening ports (the Service and the container), the variables it needs set (the
    security mode), and where it writes (the Logstash user's privileges).
    """

    path: str
    text: str
    ports: list[ListeningPort]
    variables: list[str]
    writes: list[WriteTarget]
    ssl_options: list[tuple[int, str]]
    """(the output's line, option) of each `ssl_*` option an `elasticsearch` output sets."""

    def options_missing_before(self, version: tuple[int, ...]) -> list[str]:
        """Why `version`'s Logstash would refuse the outputs' `ssl_*` options, one line each.

        The elasticsearch output plugin took its `ssl_*` names in 11.14, first bundled with
        Logstash 8.8; 8.0-8.7 know only `ssl`, `cacert` and `ssl_certificate_verification`.
        """
        if version >= SSL_OPTIONS_SINCE:
            return []
        return [
            f"{self.path}: the elasticsearch output at line {line} sets {option}, which exists from "
            "Logstash 8.8; use version 8.8 or later, or a pipeline with the older `ssl`/`cacert` options"
            for line, option in self.ssl_options
            if option not in OLD_SSL_OPTIONS
        ]


def pipeline_facts(project_dir: Path, relative: str) -> PipelineFacts:
    """Read and parse `relative` once; a ValueError says why it cannot be deployed.

    A parse or port problem is prefixed with the file's name; a file that cannot be read
    says so in its own words (`read_pipeline`).
    """
    text = read_pipeline(project_dir, relative)
    try:
        pipeline = parse_pipeline(text)
        ports = ports_of(pipeline)
    except ValueError as error:
        raise ValueError(f"{relative}: {error}") from None
    return PipelineFacts(
        relative, text, ports, variables_of(pipeline), writes_of(pipeline), ssl_options_of(pipeline)
    )


SSL_OPTIONS_SINCE = (8, 8)
OLD_SSL_OPTIONS = frozenset({"ssl", "ssl_certificate_verification"})


def ssl_options_of(pipeline: lscl.Config) -> list[tuple[int, str]]:
    """(line, option) of every `ssl_*` option of the pipeline's `elasticsearch` outputs."""
    return [
        (plugin.line, name)
        for plugin in pipeline.sections["output"]
        if plugin.name == "elasticsearch"
        for name, _ in plugin.attributes
        if name.startswith("ssl")
    ]
