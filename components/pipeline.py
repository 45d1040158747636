"""Read the listening ports out of a Logstash pipeline file.

The Service must expose exactly the ports the pipeline listens on. Reading them from the
`.conf` file keeps one source of truth: a port changed in the pipeline moves the Service
with it, and a pipeline with no listening input is caught before anything is deployed.
"""

from __future__ import annotations

import re

_PLUGIN_WITH_PORT = re.compile(r"(?P<plugin>[a-z_]+)\s*\{(?P<body>[^{}]*)\}", re.S)
_PORT = re.compile(r"\bport\s*=>\s*\"?(?P<port>[0-9]+)\"?")
_COMMENT = re.compile(r"#[^\n]*")


def _port_name(plugin: str, number: int) -> str:
    """A Kubernetes port name (at most 15 characters) for a plugin, numbered from 2 on reuse."""
    suffix = f"-{number}" if number else ""
    return plugin.replace("_", "-")[: 15 - len(suffix)].rstrip("-") + suffix


def input_section(text: str) -> str:
    """Return the body of the pipeline's `input { ... }` block, or '' when there is none."""
    text = _COMMENT.sub("", text)
    match = re.search(r"\binput\s*\{", text)
    if match is None:
        return ""
    depth, start = 1, match.end()
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[start:index]
    return ""


def listening_ports(text: str) -> dict[str, int]:
    """Map each input plugin that sets `port => N` to N, e.g. {'tcp': 5000, 'beats': 5044}.

    A plugin used twice gets a numbered name (`tcp`, `tcp-2`) so Service port names stay
    unique, and long plugin names are cut to the 15 characters Kubernetes allows.
    """
    ports: dict[str, int] = {}
    for plugin in _PLUGIN_WITH_PORT.finditer(input_section(text)):
        port = _PORT.search(plugin["body"])
        if port is None:
            continue
        base = _port_name(plugin["plugin"], 0)
        name, number = base, 2
        while name in ports:
            name, number = _port_name(plugin["plugin"], number), number + 1
        ports[name] = int(port["port"])
    return ports
