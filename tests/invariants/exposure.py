"""Servers reach other pods, and clients verify TLS: checked by value against a list of good ones."""

from __future__ import annotations

import re
from typing import Any

from tests.invariants.files import settings_files
from tests.invariants.objects import Manifest, containers, pod_templates, ref, where

# Each settings file must bind beyond loopback (the images' own files do; ours replace
# them, so a missing key means the product's default: localhost).
REQUIRED_HOSTS = {
    "elasticsearch.yml": ("network.host",),
    "kibana.yml": ("server.host",),
    "logstash.yml": ("api.http.host",),
}
HOST_SETTINGS = frozenset(
    {"network.host", "network.bind_host", "http.host", "transport.host", "server.host", "api.http.host"}
)
# Addresses that accept connections from other pods: all interfaces, or the pod's network.
GOOD_HOSTS = frozenset({"0.0.0.0", "::", "[::]", "_site_", "_global_"})
# TLS verification: `full` checks the chain and the host name. Transport may stop at the
# chain, because nodes dial each other by pod IP, which no certificate can name in advance.
VERIFICATION_SUFFIXES = ("verification_mode", "verificationMode")
GOOD_VERIFICATION: dict[str, frozenset[str]] = {
    "xpack.security.transport.ssl.verification_mode": frozenset({"full", "certificate"}),
}
FULL_ONLY = frozenset({"full"})
_INSECURE = re.compile(r"(?<![\w-])--insecure\b")
_PIPELINE_SETTING = re.compile(
    r"\b(?P<name>ssl_verification_mode|ssl_certificate_verification)\s*=>\s*\"?(?P<value>[\w-]+)\"?"
)


def _host_problem(value: Any) -> bool:
    """Whether a bind address leaves other pods out: only loopback or an unknown value."""
    values = value if isinstance(value, list) else [value]
    return not any(str(v) in GOOD_HOSTS for v in values)


def _verification_allowed(setting: str) -> frozenset[str]:
    return GOOD_VERIFICATION.get(setting, FULL_ONLY)


def exposure_violations(manifests: list[Manifest]) -> list[str]:
    """Bind addresses reach other pods and TLS verification is on, checked by value.

    Each value must be one of a short list of good ones (`0.0.0.0`, `full`, ...), not
    merely other than one bad literal: `127.0.0.1`, `localhost` and `_local_` are all
    loopback, and `certificate` skips the host name check as surely as `none` skips all.
    Covers the settings files, the pipelines' Elasticsearch outputs and `curl --insecure`.
    """
    violations = []
    for at, name, settings in settings_files(manifests):
        for setting in REQUIRED_HOSTS[name]:
            if setting not in settings:
                violations.append(f"{at}: {setting} is not set, so it binds to loopback only")
        for setting, value in settings.items():
            if setting in HOST_SETTINGS and _host_problem(value):
                violations.append(f"{at}: {setting} is {value!r}, not one of {sorted(GOOD_HOSTS)}")
            if setting.endswith(VERIFICATION_SUFFIXES) and str(value) not in _verification_allowed(setting):
                allowed = sorted(_verification_allowed(setting))
                violations.append(f"{at}: {setting} is {value!r}, not one of {allowed}")
    for manifest in manifests:
        if manifest.get("kind") != "ConfigMap":
            continue
        for key, text in (manifest.get("data") or {}).items():
            if not isinstance(text, str):
                continue
            lines = [line.split("#", 1)[0] for line in text.splitlines()]
            if key.endswith(".conf"):
                violations += [
                    f"{ref(manifest)}: data[{key!r}] {match['name']} is {match['value']!r}, not "
                    f"{'full' if match['name'] == 'ssl_verification_mode' else 'true'}"
                    for line in lines
                    for match in _PIPELINE_SETTING.finditer(line)
                    if match["value"] not in ("full", "true")
                ]
            elif key.endswith(".sh"):
                violations += [f"{ref(manifest)}: data[{key!r}] {p}" for p in _insecure_curl(lines)]
    for manifest, prefix, template in pod_templates(manifests):
        for path, container in containers(template):
            commands = [*(container.get("command") or []), *(container.get("args") or [])]
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                commands += ((container.get(probe) or {}).get("exec") or {}).get("command") or []
            at = where(manifest, prefix + path, container)
            violations += [f"{at}: {problem}" for problem in _insecure_curl(commands)]
    return violations


def _insecure_curl(lines: list[str]) -> list[str]:
    """`--insecure`, or curl's `-k` (alone or in a cluster such as `-fsSk`), in commands or a script."""
    problems = []
    for line in lines:
        tokens = line.split()
        curl = any(token.endswith("curl") for token in tokens)
        for token in tokens:
            cluster = token.startswith("-") and not token.startswith("--") and "k" in token[1:]
            if _INSECURE.search(token) or (curl and cluster):
                problems.append(f"{token!r} turns TLS verification off: {line.strip()[:80]}")
    return problems
