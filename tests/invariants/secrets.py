"""Secrets never reach a command line, and secure settings never reach a settings file."""

from __future__ import annotations

import re

import yaml

from tests.invariants.objects import Manifest, containers, pod_templates, ref, server_image, where

# Settings the Kibana image's entrypoint turns into command-line flags: `kibana-docker`
# (elastic/kibana, src/dev/build/tasks/os_packages/docker_generator/resources/base/bin/)
# reads the env var named after each setting in its `kibana_vars` list (upper case, dots
# to underscores) and runs Kibana with `--setting=value`, which /proc/<pid>/cmdline shows
# to every process on the node. These are the list's entries that hold credentials.
KIBANA_FLAG_SETTINGS = (
    "elasticsearch.username",
    "elasticsearch.password",
    "elasticsearch.serviceAccountToken",
    "elasticsearch.ssl.keyPassphrase",
    "elasticsearch.ssl.keystore.password",
    "elasticsearch.ssl.truststore.password",
    "monitoring.ui.elasticsearch.username",
    "monitoring.ui.elasticsearch.password",
    "server.ssl.keyPassphrase",
    "server.ssl.keystore.password",
    "server.ssl.truststore.password",
    "xpack.security.encryptionKey",
    "xpack.encryptedSavedObjects.encryptionKey",
    "xpack.reporting.encryptionKey",
)
KIBANA_FLAG_VARIABLES = frozenset(s.upper().replace(".", "_") for s in KIBANA_FLAG_SETTINGS)


def becomes_flag(image: str, variable: str) -> bool:
    """Whether `image`'s entrypoint turns env var `variable` into a command-line flag.

    Kibana: the names above. Elasticsearch: its docker-entrypoint.sh passes every env var
    with a dotted name (`cluster.name=x`) as `-Ecluster.name=x`; ELASTIC_PASSWORD it pipes
    to `elasticsearch-keystore add -x bootstrap.password` on stdin instead.
    """
    if image == "kibana":
        return variable in KIBANA_FLAG_VARIABLES
    return image == "elasticsearch" and "." in variable


_CURL_CREDENTIALS = re.compile(r"(?<![\w-])(-u|--user|-H|--header|--oauth2-bearer)\b")


def _secret_variables(template: Manifest, container: Manifest) -> set[str]:
    """Names of the variables whose value comes from a Secret: env, or a credential file.

    A credential file (scripts/env-from-files.sh) becomes a variable named after it before
    the image's entrypoint runs, so the entrypoint's env-to-flag mapping applies to it too.
    """
    names = {
        entry["name"]
        for entry in container.get("env") or []
        if "secretKeyRef" in (entry.get("valueFrom") or {})
    }
    return names | set(credential_file_variables(template, container))


def credential_file_variables(template: Manifest, container: Manifest) -> list[str]:
    """The variables a container reads from the Secret volume at its ENV_FILES_DIR."""
    env = {entry["name"]: entry.get("value") for entry in container.get("env") or []}
    mounted = {
        m["name"] for m in container.get("volumeMounts") or [] if m["mountPath"] == env.get("ENV_FILES_DIR")
    }
    volumes = [v for v in (template.get("spec") or {}).get("volumes") or [] if v["name"] in mounted]
    return [
        item["path"]
        for volume in volumes
        for source in (volume.get("projected") or {}).get("sources") or []
        for item in (source.get("secret") or {}).get("items") or []
    ]


def secret_env_violations(manifests: list[Manifest]) -> list[str]:
    """No credential in a pod spec's env: `kubectl get pod -o yaml` and `describe` show env to anyone
    who may read pods. Secrets arrive as mounted files (ENV_FILES_DIR, the keystore's files)."""
    violations = []
    for manifest, prefix, template in pod_templates(manifests):
        for path, container in containers(template):
            at = where(manifest, prefix + path, container)
            violations += [
                f"{at}: env {entry['name']} comes from Secret {entry['valueFrom']['secretKeyRef']['name']}; "
                "mount it as a file instead"
                for entry in container.get("env") or []
                if "secretKeyRef" in (entry.get("valueFrom") or {})
            ]
            violations += [
                f"{at}: envFrom takes every key of Secret {source['secretRef'].get('name')}; mount it instead"
                for source in container.get("envFrom") or []
                if "secretRef" in source
            ]
    return violations


def _secret_on_command_line(line: str, secrets: set[str]) -> str | None:
    """Why `line` puts a secret on a command line, if it does.

    Kubernetes expands `$(VAR)` in command and args before exec, and a shell expands
    `$VAR` into the arguments of the program it runs: either way the value is in
    /proc/<pid>/cmdline. A curl credential option (`-u`, a header) with a variable is one too.
    """
    for name in secrets:
        if f"$({name})" in line:
            return f"$({name}) is expanded into the command line"
    if any(token.endswith("curl") for token in line.split()) and "$" in line:
        match = _CURL_CREDENTIALS.search(line)
        if match:
            return f"curl {match[1]} with a variable puts it on the command line"
    return None


# Repository client settings Elastic marks Secure: they are read only from the keystore
# (elastic.co/docs/reference/elasticsearch/configuration-reference/s3-repository-settings,
# the gcs and azure repository pages), and in a settings file they are a leaked secret.
_SECURE_CLIENT_SETTING = re.compile(
    r"^(s3|gcs|azure)\.client\.[^.]+\.(access_key|secret_key|session_token|credentials_file|account|key|sas_token)$"
)


def _secure_settings_in_files(manifest: Manifest) -> list[str]:
    """Secure settings written into a ConfigMap's YAML settings file, where anyone can read them."""
    violations = []
    for key, text in (manifest.get("data") or {}).items():
        if not (isinstance(text, str) and key.endswith((".yml", ".yaml"))):
            continue
        try:
            settings = yaml.safe_load(text)
        except yaml.YAMLError:
            continue
        if isinstance(settings, dict):
            violations += [
                f"{ref(manifest)}: data[{key!r}] sets the secure setting {name}; it belongs in the keystore"
                for name in settings
                if _SECURE_CLIENT_SETTING.match(str(name))
            ]
    return violations


def secret_exposure_violations(manifests: list[Manifest]) -> list[str]:
    """Secrets never reach a command line: not by an entrypoint's env-to-flag mapping,
    not by `$(VAR)` in command/args or probes, not by curl options in a mounted script;
    and secure settings (repository credentials) never reach a settings file."""
    violations = []
    for manifest, prefix, template in pod_templates(manifests):
        for path, container in containers(template):
            at = where(manifest, prefix + path, container)
            secrets = _secret_variables(template, container)
            # An overridden command skips the entrypoint, and its mapping with it.
            violations += [
                f"{at}: env {name} comes from a Secret, and the image's entrypoint turns it into a flag"
                for name in sorted(secrets)
                if becomes_flag(server_image(container), name)
            ]
            commands = [*(container.get("command") or []), *(container.get("args") or [])]
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                commands += ((container.get(probe) or {}).get("exec") or {}).get("command") or []
            for line in commands:
                problem = _secret_on_command_line(str(line), secrets)
                if problem:
                    violations.append(f"{at}: {problem}")
    for manifest in manifests:
        if manifest.get("kind") != "ConfigMap":
            continue
        violations += _secure_settings_in_files(manifest)
        for key, text in (manifest.get("data") or {}).items():
            if isinstance(text, str) and key.endswith(".sh"):
                for line in text.splitlines():
                    problem = _secret_on_command_line(line.split("#", 1)[0], set())
                    if problem:
                        violations.append(f"{ref(manifest)}: data[{key!r}] {problem}")
    return violations
