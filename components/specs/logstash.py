"""Logstash's settings, pod and Service, from the validated config and the pipeline's facts.

The pipeline comes from a real `.conf` file. Its Elasticsearch address is an environment
variable filled from the cluster's endpoint, so wiring never depends on a re-typed host
name, and the Service exposes exactly the ports the pipeline's inputs listen on.
"""

from __future__ import annotations

from typing import Any

from components.configuration import LogstashConfig
from components.configuration.pipeline import API_PORT
from components.specs import common
from components.specs.clients import ClusterAccess

APP = "logstash"
QUEUE_CLAIM = "queue"
DATA_PATH = "/usr/share/logstash/data"
LOGS_PATH = "/usr/share/logstash/logs"
SETTINGS_FILE = "/usr/share/logstash/config/logstash.yml"
# The image's pipelines.yml reads every file here; mounting only ours replaces its demo
# pipeline, which would otherwise also bind 5044.
PIPELINE_DIR = "/usr/share/logstash/pipeline"
PIPELINE_FILE = "main.conf"
CERTS_DIR = "/usr/share/logstash/config/certs"
NAMES = common.Names(APP)
# The pipeline of the image's own pipelines.yml, which reads our pipeline directory.
PIPELINE_ID = "main"
# The image's entrypoint, and where the script that reads the login files before it is mounted.
ENTRYPOINT = "/usr/local/bin/docker-entrypoint"
SCRIPT_DIR = "/opt/elk-stack"
SCRIPT_ITEM = {"key": common.ENV_FILES_SCRIPT.name, "path": common.ENV_FILES_SCRIPT.name}
# What Logstash writes outside its volumes: its container log (50 MiB; the image logs to the
# console), JRuby's and the JVM's temporary files, and with a memory queue its data
# directory (an id, no events); the limit leaves room for fatal error reports.
SCRATCH = common.Scratch(request="256Mi", limit="1Gi")
# Keep accepting for 10 s while the Service stops sending (see `common.pre_stop_wait`).
PRE_STOP_SECONDS = 10


def settings(config: LogstashConfig) -> dict[str, Any]:
    """`logstash.yml`: API reachable for probes, and the queue as configured."""
    result: dict[str, Any] = {
        "api.http.host": "0.0.0.0",
        "api.http.port": API_PORT,
        "path.data": DATA_PATH,
        "queue.type": config.queue.type,
    }
    if config.queue.type == "persisted":
        # Drain on shutdown, within the pod's grace period; whatever is left stays on disk.
        result |= {"queue.max_bytes": config.queue.max_bytes, "queue.drain": True}
        # An event Elasticsearch refuses (a mapping conflict: 400) is written here instead of
        # dropped. Its default path, <path.data>/dead_letter_queue, is on the queue volume.
        result |= {
            "dead_letter_queue.enable": True,
            "dead_letter_queue.max_bytes": config.queue.dead_letter_max_bytes,
        }
    return result


# A rolling restart's budget per pod: up to 3 minutes to drain the queue, the startup
# probe's 5 minutes, and the pipeline starting.
MINUTES_PER_POD = 10


def grace_seconds(config: LogstashConfig) -> int:
    """The pre-stop wait, then long enough for a persisted queue to drain before the kill."""
    return PRE_STOP_SECONDS + (180 if config.queue.type == "persisted" else 60)


def readiness_probe() -> dict[str, Any]:
    """Ready while the pipeline runs, not merely while the API answers.

    `GET /_node/pipelines/<id>` answers 404 when no pipeline of that id is loaded (Logstash's
    `api/modules/node.rb`: `halt(404) if payload.empty?`), e.g. after a configuration error,
    on every 8.x and 9.x. `/_health_report` (8.16+ only) would also turn a busy pipeline
    (backpressure, a slow Elasticsearch) unhealthy: taking Logstash out of its Service then
    only moves the load, and the report is costly to compute every 10 s.
    """
    return {
        "httpGet": {"path": f"/_node/pipelines/{PIPELINE_ID}", "port": "api"},
        "periodSeconds": 10,
        "failureThreshold": 3,
    }


def pod_spec(config: LogstashConfig, target: common.Target, access: ClusterAccess) -> dict[str, Any]:
    """The Logstash pod: pipeline and settings mounted without hiding the image's config dir.

    It sets exactly the variables `components.configuration.pipeline` promises for the security mode.
    """
    mounts: list[dict[str, Any]] = [
        {"name": "config", "mountPath": SETTINGS_FILE, "subPath": "logstash.yml"},
        {"name": "pipeline", "mountPath": PIPELINE_DIR, "readOnly": True},
    ]
    volumes = [
        {
            "name": "config",
            "configMap": {"name": NAMES.config, "items": [{"key": "logstash.yml", "path": "logstash.yml"}]},
        },
        {
            "name": "pipeline",
            "configMap": {"name": NAMES.config, "items": [{"key": PIPELINE_FILE, "path": PIPELINE_FILE}]},
        },
    ]
    # A read-only root: JRuby's and the JVM's temporary files, the logs directory and, with a
    # memory queue, the data directory (its id and lock) are emptyDirs.
    scratch = {"tmp": "/tmp", "logs": LOGS_PATH}
    if config.queue.type == "persisted":
        mounts.insert(0, {"name": QUEUE_CLAIM, "mountPath": DATA_PATH})
    else:
        scratch["data"] = DATA_PATH
    mounts += [{"name": name, "mountPath": path} for name, path in scratch.items()]
    volumes += [{"name": name, "emptyDir": {}} for name in scratch]
    env: list[dict[str, Any]] = [
        {"name": "LS_JAVA_OPTS", "value": config.java_options},
        {"name": "ELASTICSEARCH_HOSTS", "value": access.endpoint},
    ]
    login = access.login_files("ELASTICSEARCH_USER", "ELASTICSEARCH_PASSWORD")
    if login:
        env.append(common.env_files(login, volumes, mounts))
    env += access.ca_env("ELASTICSEARCH_CA", CERTS_DIR, volumes, mounts)
    logstash = container(config, target, env, mounts)
    if login:
        # The image's entrypoint (env2yaml, then logstash), run once the password is a variable.
        mounts.append({"name": "scripts", "mountPath": SCRIPT_DIR, "readOnly": True})
        volumes.append({"name": "scripts", "configMap": {"name": NAMES.config, "items": [SCRIPT_ITEM]}})
        logstash["command"] = common.with_env_files(SCRIPT_DIR, [ENTRYPOINT])
    spec = common.pod_spec(
        [logstash],
        volumes,
        target,
        NAMES.workload,
        grace_seconds(config),
    )
    # Pods on different hosts where the cluster allows, so one host failure stops one at most.
    spec["affinity"] = common.host_anti_affinity(common.selector_labels(APP))
    return spec


def container(
    config: LogstashConfig, target: common.Target, env: list[dict[str, Any]], mounts: list[dict[str, Any]]
) -> dict[str, Any]:
    """The Logstash container: its API and listening ports, probes, and the pre-stop wait."""
    return {
        "name": APP,
        "image": f"{config.image}:{target.version}",
        "ports": [{"name": "api", "containerPort": API_PORT}]
        + [{"name": p.name, "containerPort": p.port, "protocol": p.protocol} for p in config.ports],
        "env": env,
        "resources": common.container_resources(config.resources, SCRATCH),
        "securityContext": common.container_security_context(),
        "readinessProbe": readiness_probe(),
        # The API's root answers while the process runs, whatever its outputs can reach.
        "livenessProbe": common.liveness_probe({"httpGet": {"path": "/", "port": "api"}}),
        "startupProbe": {
            "httpGet": {"path": "/", "port": "api"},
            "periodSeconds": 10,
            "failureThreshold": 30,
        },
        "lifecycle": common.pre_stop_wait(PRE_STOP_SECONDS),
        "volumeMounts": mounts,
    }


def service_spec(config: LogstashConfig, selector: dict[str, str]) -> dict[str, Any]:
    """The Service applications send to: each listening port with its protocol."""
    return {
        "type": config.service.type,
        "selector": selector,
        "ports": [
            {"name": p.name, "port": p.port, "protocol": p.protocol, "targetPort": p.name}
            for p in config.ports
        ],
    }
