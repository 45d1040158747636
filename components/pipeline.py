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


# The environment variables the Logstash component sets for a pipeline, and when.
PIPELINE_VARIABLES = {
    "ELASTICSEARCH_HOSTS": "always",
    "ELASTICSEARCH_USER": "when security.enabled is true",
    "ELASTICSEARCH_PASSWORD": "when security.enabled is true",
    "ELASTICSEARCH_CA": "when security.enabled and elasticsearch.tls.http are true",
}
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<default>:[^}]*)?\}")


def pipeline_variables(security: bool, https: bool) -> set[str]:
    """The variables set for a security mode; a pipeline may use only these."""
    names = {"ELASTICSEARCH_HOSTS"}
    if security:
        names |= {"ELASTICSEARCH_USER", "ELASTICSEARCH_PASSWORD"}
    if https:
        names.add("ELASTICSEARCH_CA")
    return names


def referenced_variables(text: str) -> list[str]:
    """`${NAME}` references without a default, which Logstash refuses to start without."""
    text = _COMMENT.sub("", text)
    return sorted({m["name"] for m in _VARIABLE.finditer(text) if m["default"] is None})


def default_pipeline(variables: set[str]) -> str:
    """The shipped Spring Boot pipeline whose output matches the security mode."""
    if "ELASTICSEARCH_CA" in variables:
        return "pipelines/spring-boot-json.conf"
    if "ELASTICSEARCH_USER" in variables:
        return "pipelines/spring-boot-json-http.conf"
    return "pipelines/spring-boot-json-insecure.conf"
