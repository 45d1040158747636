"""One Elasticsearch node set as Kubernetes sees it: names, settings, probes and the pod.

The data volume is part of the only pod spec the nodes have, so no path builds a pod
without it; the settings file never needs privileged kernel tuning.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

from components.configuration import ResolvedNodeSet, SnapshotRepository
from components.configuration.units import java_heap_options
from components.specs import common, snapshots
from components.specs.certificates import NodeSetPods
from components.specs.credentials import PASSWORD_KEY, USERNAME_KEY

APP = "elasticsearch"
HTTP_PORT = 9200
TRANSPORT_PORT = 9300
DATA_CLAIM = "data"
DATA_PATH = "/usr/share/elasticsearch/data"
CONFIG_DIR = "/usr/share/elasticsearch/config"
CONFIG_FILE = f"{CONFIG_DIR}/elasticsearch.yml"
# The root filesystem is read-only; these emptyDirs are where a node writes outside its
# data: the copy of the config directory the start script makes (the keystore is written
# there), the JVM's temporary files and the GC log.
CONFIG_COPY_DIR = "/mnt/elk-stack/config"
LOGS_PATH = "/usr/share/elasticsearch/logs"
SCRATCH_DIRS = {"config-copy": CONFIG_COPY_DIR, "tmp": "/tmp", "logs": LOGS_PATH}
# A directory of its own inside the config directory: Elasticsearch reads certificates
# only from there, and mounting it does not hide the image's other config files.
CERTS_DIR = f"{CONFIG_DIR}/certs"
# `elastic`'s bootstrap password, a file the start script adds to the keystore.
BOOTSTRAP_DIR = "/mnt/elk-stack/bootstrap"
# The readiness probe's file-realm user (components/specs/file_realm.py); names without a dot,
# which the image would turn into settings.
PROBE_USER_VARIABLE = "PROBE_USERNAME"
PROBE_PASSWORD_VARIABLE = "PROBE_PASSWORD"
# The file realm Secret is mounted here; the start script links its files into the config
# directory, so a changed Secret reaches the nodes without a restart (Elasticsearch watches
# the files), as ECK does.
FILE_REALM_DIR = "/mnt/elk-stack/file-realm"
POD_NAME_VARIABLE = "POD_NAME"
START_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "elasticsearch-start.sh"
READY_SCRIPT = START_SCRIPT.with_name("elasticsearch-ready.sh")
PRE_STOP_SCRIPT = START_SCRIPT.with_name("elasticsearch-pre-stop.sh")
# The scripts every node mounts: the start script, the readiness probe and the preStop hook.
SCRIPTS = (START_SCRIPT.name, READY_SCRIPT.name, PRE_STOP_SCRIPT.name, common.ENV_FILES_SCRIPT.name)
SCRIPT_DIR = "/opt/elk-stack"
# Written by the readiness probe once the node has joined a cluster; the start script
# bootstraps a new cluster only while it is absent.
FORMED_MARKER = f"{DATA_PATH}/.elk-stack-cluster-formed"
NODE_SET_LABEL = "elk-stack/node-set"
# As ECK: keep serving 50 s after the pod is told to stop, while clients and proxies learn
# it is gone, then leave Elasticsearch the rest of 180 s to stop cleanly.
PRE_STOP_SECONDS = 50
GRACE_SECONDS = 180
HTTP_LABEL = "elk-stack/http"
# A rolling restart's budget per node: termination (180 s grace), the startup probe's
# 5 minutes, and rejoining the cluster until the pod is Ready again.
MINUTES_PER_NODE = 10
# The GC log, kept as Elasticsearch keeps it (logs/gc.log) but in 4 files of 16 MiB instead
# of its default 32 of 64 MiB (2 GiB of node disk). `-Xlog:disable` first, as Elastic's JVM
# settings page says: an output's options cannot be changed once jvm.options configured it.
# An absolute path: Elasticsearch's launcher first runs a JVM with these options elsewhere
# than its home to read the final flags, and a relative one fails there (seen on the real tier).
GC_LOG_OPTIONS = (
    "-Xlog:disable -Xlog:all=warning:stderr:utctime,level,tags "
    f"-Xlog:gc*,gc+age=trace,safepoint:file={LOGS_PATH}/gc.log:utctime,level,pid,tags:filecount=4,filesize=16m"
)
# What a node writes outside its volumes: the GC log (64 MiB), its container log (50 MiB),
# the JVM's temporary files and the keystore (a few MiB); the limit leaves room for the
# JVM's fatal error reports (hs_err files).
SCRATCH = common.Scratch(request="256Mi", limit="1Gi")


def names(node_set: ResolvedNodeSet) -> common.Names:
    """Object names of a node set; the inline form keeps the plain `elk-elasticsearch`."""
    return common.Names(f"{APP}-{node_set.name}" if node_set.name else APP)


def selector(node_set: ResolvedNodeSet) -> dict[str, str]:
    """The pods of one node set; the inline form keeps its original (immutable) selector."""
    labels = common.selector_labels(APP)
    return {**labels, NODE_SET_LABEL: node_set.name} if node_set.name else labels


@dataclass(frozen=True)
class ClusterWiring:
    """What every node of the cluster shares: discovery, security and the certificates."""

    image: str
    secure: bool
    https: bool
    seed_hosts: list[str]
    # Comma-separated pod names, as first recorded (`ClusterFormation`).
    initial_masters: pulumi.Input[str]
    superuser_secret: pulumi.Input[str] | None = None
    probe_secret: pulumi.Input[str] | None = None
    file_realm_secret: pulumi.Input[str] | None = None
    # A plain name: see `ElasticsearchCertificates` for why not the Secret's output.
    certs_secret: str | None = None
    # Whether the certificates Secret holds one pair per pod (`<pod>.tls.crt`), found
    # through POD_NAME, or one pair all nodes share (`tls.existingSecret`).
    per_pod_certs: bool = False
    credentials_revision: pulumi.Input[str] | None = None
    # Where a CA rotation stands (`ElasticsearchTls.rotation_stage`): each step rolls the nodes.
    ca_rotation: str | None = None
    http_label: bool = False
    service_account: str = common.Names(APP).workload
    # The snapshot repository the nodes reach (its client settings and credentials), and
    # for `fs` the name of the shared claim every node mounts.
    snapshot_repository: SnapshotRepository | None = None
    snapshot_claim: pulumi.Input[str] | None = None


def settings(node_set: ResolvedNodeSet, cluster: ClusterWiring) -> dict[str, Any]:
    """`elasticsearch.yml` for the nodes of a set, without privileged kernel tuning."""
    result: dict[str, Any] = {
        "cluster.name": common.INSTANCE,
        "network.host": "0.0.0.0",
        # mmap needs vm.max_map_count raised by a privileged init container; niofs does not.
        "node.store.allow_mmap": False,
        "path.data": DATA_PATH,
        "xpack.security.enabled": cluster.secure,
        "discovery.seed_hosts": cluster.seed_hosts,
    }
    if node_set.roles is not None:
        result["node.roles"] = list(node_set.roles)
    if cluster.snapshot_repository is not None:
        result |= snapshots.node_settings(cluster.snapshot_repository)
    if cluster.secure:
        # Elasticsearch substitutes environment variables in elasticsearch.yml before it
        # parses it (elastic/elasticsearch#85186); ECK names each pod's files the same way.
        own = f"certs/${{{POD_NAME_VARIABLE}}}." if cluster.per_pod_certs else "certs/"
        tls_files = {
            "key": f"{own}tls.key",
            "certificate": f"{own}tls.crt",
            "certificate_authorities": ["certs/ca.crt"],
        }
        result["xpack.security.enrollment.enabled"] = False
        # Transport TLS is always on with security; "certificate" checks the chain (not the
        # host name, as nodes connect by IP).
        result["xpack.security.transport.ssl.enabled"] = True
        result["xpack.security.transport.ssl.verification_mode"] = "certificate"
        result |= {f"xpack.security.transport.ssl.{k}": v for k, v in tls_files.items()}
        result["xpack.security.http.ssl.enabled"] = cluster.https
        if cluster.https:
            result |= {f"xpack.security.http.ssl.{k}": v for k, v in tls_files.items()}
    return result


def readiness_probe(cluster: ClusterWiring) -> dict[str, Any]:
    """Ready once this node has joined a cluster, whatever the health of its indices.

    The script (scripts/elasticsearch-ready.sh) also holds each container start until
    recovery has settled, so a rolling restart moves on only once the restarted node's
    shards are back. Each run makes one request of at most 3 s.
    """
    command = ["bash", f"{SCRIPT_DIR}/{READY_SCRIPT.name}", local_url(cluster), FORMED_MARKER]
    if cluster.https:
        command.append(f"{CERTS_DIR}/ca.crt")
    return {
        "exec": {"command": probe_login(cluster, command)},
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        "failureThreshold": 3,
    }


def pre_stop(cluster: ClusterWiring) -> dict[str, Any]:
    """Limit allocation to primaries and flush before a restart, then keep serving a while.

    scripts/elasticsearch-pre-stop.sh; the readiness probe sets allocation back once the
    node has rejoined. It logs in as the probe's user, as the probe does.
    """
    command = ["bash", f"{SCRIPT_DIR}/{PRE_STOP_SCRIPT.name}", local_url(cluster), str(PRE_STOP_SECONDS)]
    if cluster.https:
        command.append(f"{CERTS_DIR}/ca.crt")
    return {"preStop": {"exec": {"command": probe_login(cluster, command)}}}


def probe_login(cluster: ClusterWiring, command: list[str]) -> list[str]:
    """A node's own script, run with the probe user's login read from its files (with security)."""
    return command if cluster.probe_secret is None else common.with_env_files(SCRIPT_DIR, command)


def local_url(cluster: ClusterWiring) -> str:
    """How a node's own scripts reach it."""
    return f"{'https' if cluster.https else 'http'}://localhost:{HTTP_PORT}"


def startup_probe() -> dict[str, Any]:
    """Give the JVM and a recovering shard store up to 5 minutes before liveness matters."""
    return {"tcpSocket": {"port": HTTP_PORT}, "periodSeconds": 10, "failureThreshold": 30}


def affinity(mode: str, pod_selector: dict[str, str]) -> dict[str, Any] | None:
    """Spread a node set's pods over hosts, so one host failure takes one node at most.

    `soft` is the default because our users cannot pick or label nodes: a namespace on a
    small cluster must still schedule.
    """
    return None if mode == "none" else common.host_anti_affinity(pod_selector, required=mode == "hard")


def add_snapshot_volumes(
    cluster: ClusterWiring,
    env: list[dict[str, Any]],
    mounts: list[dict[str, Any]],
    volumes: list[dict[str, Any]],
) -> None:
    """Mount the repository's credentials (for the keystore) and, for `fs`, the shared claim.

    Each credential is a file named after its secure setting, which the start script adds
    to the keystore with `elasticsearch-keystore add-file`: the value is read from the
    file, never passed in an env value or on a command line.
    """
    repository = cluster.snapshot_repository
    if repository is None:
        return
    items = snapshots.secure_setting_items(repository)
    if repository.credentials_secret is not None and items:
        volumes.append(
            {
                "name": "secure-settings",
                "secret": {"secretName": repository.credentials_secret, "items": items, "defaultMode": 0o440},
            }
        )
        mounts.append({"name": "secure-settings", "mountPath": snapshots.CREDENTIALS_DIR, "readOnly": True})
        env.append({"name": "SECURE_SETTINGS_DIR", "value": snapshots.CREDENTIALS_DIR})
    if cluster.snapshot_claim is not None:
        volumes.append(
            {"name": snapshots.FS_CLAIM, "persistentVolumeClaim": {"claimName": cluster.snapshot_claim}}
        )
        mounts.append({"name": snapshots.FS_CLAIM, "mountPath": snapshots.FS_PATH})


def credential_volumes(
    cluster: ClusterWiring,
    env: list[dict[str, Any]],
    mounts: list[dict[str, Any]],
    volumes: list[dict[str, Any]],
) -> None:
    """`elastic`'s bootstrap password, the probe's login and the file realm, with security on."""
    if cluster.superuser_secret is not None:
        # The start script puts this file into the keystore as the bootstrap password of
        # `elastic`, the user for people; nothing of the stack logs in as `elastic`.
        items = [{"key": PASSWORD_KEY, "path": PASSWORD_KEY}]
        volumes.append(
            {
                "name": "bootstrap-password",
                "secret": {"secretName": cluster.superuser_secret, "items": items, "defaultMode": 0o440},
            }
        )
        mounts.append({"name": "bootstrap-password", "mountPath": BOOTSTRAP_DIR, "readOnly": True})
        env.append({"name": "BOOTSTRAP_PASSWORD_FILE", "value": f"{BOOTSTRAP_DIR}/{PASSWORD_KEY}"})
    if cluster.probe_secret is not None:
        login = {USERNAME_KEY: PROBE_USER_VARIABLE, PASSWORD_KEY: PROBE_PASSWORD_VARIABLE}
        env.append(common.env_files([(cluster.probe_secret, login)], volumes, mounts))
    if cluster.file_realm_secret is not None:
        env.append({"name": "FILE_REALM_DIR", "value": FILE_REALM_DIR})
        mounts.append({"name": "file-realm", "mountPath": FILE_REALM_DIR, "readOnly": True})
        volumes.append(
            {"name": "file-realm", "secret": {"secretName": cluster.file_realm_secret, "defaultMode": 0o440}}
        )
    if cluster.per_pod_certs:
        env.append({"name": POD_NAME_VARIABLE, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})
    if cluster.certs_secret is not None:
        mounts.append({"name": "certs", "mountPath": CERTS_DIR, "readOnly": True})
        volumes.append(
            {"name": "certs", "secret": {"secretName": cluster.certs_secret, "defaultMode": 0o440}}
        )


def start_script(
    node_set: ResolvedNodeSet,
    cluster: ClusterWiring,
    env: list[dict[str, Any]],
    mounts: list[dict[str, Any]],
    volumes: list[dict[str, Any]],
) -> list[str]:
    """The container's args: the start script, which names the initial masters until the cluster formed.

    The image's entrypoint runs any other command as is; the script then starts
    Elasticsearch through that same entrypoint (see scripts/elasticsearch-start.sh).
    """
    env.append({"name": "FORMED_MARKER", "value": FORMED_MARKER})
    if node_set.processors is not None:
        env.append({"name": "NODE_PROCESSORS", "value": str(node_set.processors)})
    if node_set.master_eligible:
        env.append({"name": "INITIAL_MASTER_NODES", "value": cluster.initial_masters})
    mounts.append({"name": "start", "mountPath": SCRIPT_DIR, "readOnly": True})
    items = [{"key": script, "path": script} for script in SCRIPTS]
    volumes.append({"name": "start", "configMap": {"name": names(node_set).config, "items": items}})
    return ["bash", f"{SCRIPT_DIR}/{START_SCRIPT.name}"]


def pod_spec(node_set: ResolvedNodeSet, cluster: ClusterWiring, target: common.Target) -> dict[str, Any]:
    """The pod: the data volume is part of the spec itself, so no path builds a pod without it."""
    env: list[dict[str, Any]] = [
        {"name": "ES_JAVA_OPTS", "value": f"{java_heap_options(node_set.heap)} {GC_LOG_OPTIONS}"},
        {"name": "ES_PATH_CONF", "value": CONFIG_COPY_DIR},
        # How long the cluster waits for a restarting node's replicas (the preStop hook's
        # node shutdown registration): the rolling restart's budget per node.
        {"name": "RESTART_ALLOCATION_DELAY", "value": f"{MINUTES_PER_NODE}m"},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": DATA_CLAIM, "mountPath": DATA_PATH},
        {"name": "config", "mountPath": CONFIG_FILE, "subPath": "elasticsearch.yml"},
        *({"name": name, "mountPath": path} for name, path in SCRATCH_DIRS.items()),
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": names(node_set).config}},
        *({"name": name, "emptyDir": {}} for name in SCRATCH_DIRS),
    ]
    credential_volumes(cluster, env, mounts, volumes)
    add_snapshot_volumes(cluster, env, mounts, volumes)
    container: dict[str, Any] = {
        "name": APP,
        "image": f"{cluster.image}:{target.version}",
        "ports": [
            {"name": "http", "containerPort": HTTP_PORT},
            {"name": "transport", "containerPort": TRANSPORT_PORT},
        ],
        "env": env,
        "resources": common.container_resources(node_set.resources, SCRATCH),
        "securityContext": common.container_security_context(),
        "readinessProbe": readiness_probe(cluster),
        "livenessProbe": common.liveness_probe({"tcpSocket": {"port": "http"}}),
        "lifecycle": pre_stop(cluster),
        "startupProbe": startup_probe(),
        "volumeMounts": mounts,
    }
    container["args"] = start_script(node_set, cluster, env, mounts, volumes)
    spec = common.pod_spec([container], volumes, target, cluster.service_account, grace_seconds=GRACE_SECONDS)
    spread = affinity(node_set.anti_affinity, selector(node_set))
    if spread is not None:
        spec["affinity"] = spread
    return spec


def initial_masters(node_sets: list[ResolvedNodeSet]) -> list[str]:
    """The pod names of every master-eligible node, which bootstrap a new cluster."""
    return [names(s).pod(ordinal) for s in node_sets if s.master_eligible for ordinal in range(s.replicas)]


def formation_name(name: str, node_sets: list[ResolvedNodeSet]) -> str:
    """The record's logical name, after the master-eligible sets (the inline form's is `inline`)."""
    return f"{name}-formation-{'-'.join(s.name or 'inline' for s in node_sets if s.master_eligible)}"


def node_set_pods(node_set: ResolvedNodeSet) -> NodeSetPods:
    """The names a node set's certificates are issued for."""
    set_names = names(node_set)
    return NodeSetPods(
        set_names.workload, set_names.headless, [set_names.pod(i) for i in range(node_set.replicas)]
    )


def dedicated_masters(node_sets: list[ResolvedNodeSet]) -> bool:
    """Whether some master-eligible nodes serve no clients, so the client Service must skip them."""
    return any(s.master_eligible and not s.serves_http for s in node_sets)
