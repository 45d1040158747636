"""Day-two changes to a deployed qa stack: each rolls, grows or keeps exactly what the docs say.

The scenarios run in file order against one deployment, as a user would make the changes
one after another. Each one snapshots the live objects before `pulumi up` (workload UIDs,
generations and revisions, pod UIDs, claims and their volumes) and compares them after,
so the evidence is the cluster's, not only Pulumi's. Each ends with a
`pulumi preview --expect-no-changes`: a change must not leave a perpetual diff behind.
"""

from __future__ import annotations

import copy
import shutil
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import pytest
import yaml

from components.specs import common
from tests.e2e.conftest import (
    PROJECT_DIR,
    SLOW_READY_SECONDS,
    SLOW_VERSION,
    Cluster,
    Stack,
    claims,
    condition,
    engine_events,
    event_time,
    pod_uids,
    stack_from_file,
    wait_until,
)

NAMESPACE = "elk-e2e-changes"
PIPELINE = "pipelines/spring-boot-json.conf"
NEW_VERSION = "9.4.4"
# The live workload of each component: (kind, name).
WORKLOADS = {
    "elasticsearch": ("statefulset", "elk-elasticsearch"),
    "logstash": ("statefulset", "elk-logstash"),
    "kibana": ("deployment", "elk-kibana"),
}
DATA_CLAIM = "data-elk-elasticsearch-0"
QUEUE_CLAIM = "queue-elk-logstash-0"
# Every engine step that replaces a resource: a new object, a new UID, and for a claim, a new volume.
REPLACING = frozenset({"replace", "create-replacement", "delete-replaced", "discard-replaced"})
ROLLOUT_TIMEOUT = 300


@dataclass(frozen=True)
class Workload:
    """A StatefulSet or Deployment as the cluster holds it, with the pods it runs."""

    uid: str
    generation: int
    revision: str
    annotations: dict[str, str]
    pods: dict[str, str]

    @property
    def checksum(self) -> str:
        """The pod template's digest of the config files its pods mount."""
        return self.annotations[common.CHECKSUM_ANNOTATION]

    def kept(self, other: Workload) -> bool:
        """The same object, spec and revision, running the very same pods."""
        return (self.uid, self.generation, self.revision, self.pods) == (
            other.uid,
            other.generation,
            other.revision,
            other.pods,
        )


@pytest.fixture(scope="module")
def deployed(cluster: Cluster) -> Stack:
    """The qa stack deployed once as the namespace's user; every scenario changes it further."""
    kubeconfig = cluster.namespace(NAMESPACE)
    stack = stack_from_file(cluster, "e2e-changes", "Pulumi.qa.yaml", NAMESPACE, kubeconfig)
    stack.pulumi("up", "--yes", "--skip-preview")
    return stack


@pytest.mark.claim(
    "Every pod template carries a checksum of the config files it mounts, so a change rolls "
    "exactly the pods that use it: a Logstash pipeline edit rolls Logstash, and only Logstash"
)
def test_a_pipeline_edit_rolls_only_logstash(deployed: Stack, cluster: Cluster) -> None:
    pipeline = edit_pipeline_copy(deployed)
    assert planned(deployed) == {
        (config_map_edit(deployed), "ConfigMap", "logstash-config"),
        ("update", "StatefulSet", "logstash"),
    }
    before = snapshot(cluster, deployed.namespace)
    deployed.pulumi("up", "--yes", "--skip-preview")

    after = wait_for_roll(cluster, deployed.namespace, before, rolled={"logstash"})
    assert_rolled(before["logstash"], after["logstash"])
    assert after["logstash"].checksum != before["logstash"].checksum
    config_map = cluster.get_json("configmap", "elk-logstash-config", "-n", deployed.namespace)
    assert config_map["data"]["main.conf"] == pipeline
    deployed.pulumi("preview", "--expect-no-changes")


# One setting per component that only that component's pods use: a pod-template field
# for Elasticsearch, a settings file (so the config checksum) for Logstash and Kibana.
SETTINGS = [
    pytest.param(
        "elasticsearch",
        "resources.limits.cpu",
        "1500m",
        {("update", "StatefulSet", "elasticsearch")},
        marks=pytest.mark.claim(
            "Change the stack file and run `make up`: only the pods that use the changed setting roll "
            "(elasticsearch.resources.limits.cpu rolls Elasticsearch, not Logstash or Kibana)"
        ),
        id="elasticsearch",
    ),
    pytest.param(
        "logstash",
        "queue.maxBytes",
        "1536mb",
        {("edit", "ConfigMap", "logstash-config"), ("update", "StatefulSet", "logstash")},
        marks=pytest.mark.claim(
            "Change the stack file and run `make up`; the `elk-stack/config-checksum` annotation then "
            "changes in the pod templates that mount the changed file, and only those pods roll "
            "(logstash.queue.maxBytes, in logstash.yml, rolls Logstash only)"
        ),
        id="logstash",
    ),
    pytest.param(
        "kibana",
        "ingress.host",
        "kibana.qa2.example.com",
        {
            ("edit", "ConfigMap", "kibana-config"),
            ("update", "Deployment", "kibana"),
            ("update", "Ingress", "kibana"),
            # Kibana's own certificate names the Ingress host: a new host, a new certificate.
            ("replace", "LeafCertificate", "elasticsearch-tls-kibana"),
            ("update", "Secret", "elasticsearch-tls-kibana"),
        },
        marks=pytest.mark.claim(
            "Change the stack file and run `make up`; the `elk-stack/config-checksum` annotation then "
            "changes in the pod templates that mount the changed file, and only those pods roll "
            "(kibana.ingress.host, server.publicBaseUrl in kibana.yml and a certificate for the new "
            "host, rolls Kibana only)"
        ),
        id="kibana",
    ),
]


@pytest.mark.parametrize(("component", "path", "value", "operations"), SETTINGS)
def test_a_setting_of_one_component_rolls_only_its_pods(
    deployed: Stack,
    cluster: Cluster,
    component: str,
    path: str,
    value: str,
    operations: set[tuple[str, str, str]],
) -> None:
    set_path(deployed, f"elk-stack:{component}", path, value)
    edit = config_map_edit(deployed)
    operations = {(edit if op == "edit" else op, kind, name) for op, kind, name in operations}
    assert planned(deployed) == operations
    before = snapshot(cluster, deployed.namespace)
    deployed.pulumi("up", "--yes", "--skip-preview")

    after = wait_for_roll(cluster, deployed.namespace, before, rolled={component})
    assert_rolled(before[component], after[component])
    checksum_changed = after[component].checksum != before[component].checksum
    assert checksum_changed == ("ConfigMap" in {kind for _, kind, _ in operations})
    deployed.pulumi("preview", "--expect-no-changes")


@pytest.mark.claim(
    "Every claim is an explicit PVC that grows in place: a larger elasticsearch.storage.size or "
    "logstash.queue.storage.size patches the PVCs in place, and the StatefulSet is not replaced; "
    "a smaller queue is refused by `preview` in the stack file's words"
)
def test_growing_the_data_and_queue_volumes_patches_the_claims_in_place(
    deployed: Stack, cluster: Cluster
) -> None:
    set_path(deployed, "elk-stack:elasticsearch", "storage.size", "30Gi")
    set_path(deployed, "elk-stack:logstash", "queue.storage.size", "3Gi")
    assert planned(deployed) == {
        ("update", "PersistentVolumeClaim", "elasticsearch-data-0"),
        ("update", "PersistentVolumeClaim", "logstash-queue-0"),
        # The records keep each claim's size, to refuse a smaller one later.
        ("update", "DeployRecord", "elasticsearch-record"),
        ("update", "ClaimRecord", "logstash-claims"),
    }
    claims_before = claims(cluster, deployed.namespace)
    assert claims_before[DATA_CLAIM][2] == "20Gi" and claims_before[QUEUE_CLAIM][2] == "2Gi"
    before = snapshot(cluster, deployed.namespace)
    deployed.pulumi("up", "--yes", "--skip-preview")

    wanted = {DATA_CLAIM: "30Gi", QUEUE_CLAIM: "3Gi"}
    wait_until(
        lambda: all(claims(cluster, deployed.namespace)[name][2] == size for name, size in wanted.items()),
        f"the claims to report {wanted}",
    )
    claims_after = claims(cluster, deployed.namespace)
    for name, size in wanted.items():
        uid, volume, _ = claims_before[name]
        assert claims_after[name] == (uid, volume, size), name
        assert volume_capacity(cluster, volume) == size, volume
        spec = cluster.get_json("pvc", name, "-n", deployed.namespace)["spec"]
        assert spec["resources"]["requests"]["storage"] == size, name
    after = snapshot(cluster, deployed.namespace)
    assert {c: w for c, w in after.items() if not w.kept(before[c])} == {}
    deployed.pulumi("preview", "--expect-no-changes")

    # Back to 2Gi: `preview` says in the stack file's words that a queue claim cannot shrink.
    set_path(deployed, "elk-stack:logstash", "queue.storage.size", "2Gi")
    refused = deployed.pulumi("preview", check=False)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert f"queue.storage.size would shrink {QUEUE_CLAIM} from 3Gi to 2Gi" in output, output
    set_path(deployed, "elk-stack:logstash", "queue.storage.size", "3Gi")
    deployed.pulumi("preview", "--expect-no-changes")


@pytest.mark.claim(
    "A new `version` rolls the StatefulSets in place (updated, not replaced, their pods "
    "restarted on the new version, the data claims keeping their volumes) and replaces "
    "Kibana's Deployment, old pods deleted first, so two Kibana versions never run together"
)
def test_a_version_bump_rolls_every_workload_in_place_and_keeps_the_claims(
    deployed: Stack, cluster: Cluster
) -> None:
    assert deployed.config["elk-stack:version"] == "9.4.3"
    deployed.set_config("elk-stack:version", NEW_VERSION)
    operations = planned(deployed)
    workload_steps = {
        (op, kind, name)
        for op, kind, name in operations
        if kind in {"StatefulSet", "Deployment", "PersistentVolumeClaim"}
    }
    kibana_steps = {op for op, kind, name in workload_steps if (kind, name) == ("Deployment", "kibana")}
    assert "replace" in kibana_steps and kibana_steps <= REPLACING, kibana_steps
    assert workload_steps - {(op, "Deployment", "kibana") for op in kibana_steps} == {
        ("update", "StatefulSet", "elasticsearch"),
        ("update", "StatefulSet", "logstash"),
        ("update", "PersistentVolumeClaim", "elasticsearch-data-0"),
        ("update", "PersistentVolumeClaim", "logstash-queue-0"),
    }
    # The setup Job's template is immutable, so a new image replaces it (by design), and
    # Kibana's Deployment (replaceOnChanges on its image); nothing else.
    assert {
        (op, kind, name)
        for op, kind, name in operations
        if op in REPLACING and kind != "Job" and (kind, name) != ("Deployment", "kibana")
    } == set()
    claims_before = claims(cluster, deployed.namespace)
    before = snapshot(cluster, deployed.namespace)
    deployed.pulumi("up", "--yes", "--skip-preview")

    after = wait_for_roll(cluster, deployed.namespace, before, rolled=set(WORKLOADS))
    for component in WORKLOADS:
        if component == "kibana":
            assert after[component].uid != before[component].uid, "Kibana's Deployment was not replaced"
            assert after[component].pods and not set(after[component].pods.values()) & set(
                before[component].pods.values()
            )
        else:
            assert_rolled(before[component], after[component])
        images = running_images(cluster, deployed.namespace, component)
        assert images and all(image.endswith(f":{NEW_VERSION}") for image in images), images
    claims_after = claims(cluster, deployed.namespace)
    for name in (DATA_CLAIM, QUEUE_CLAIM):
        assert claims_after[name][:2] == claims_before[name][:2], name
    deployed.pulumi("preview", "--expect-no-changes")


@pytest.mark.claim(
    "A lower `version` is refused by `preview` and by `up` in one line that names "
    "elk-stack:version and both versions; no workload, pod or claim changes, and the "
    "version rolled out before passes again"
)
def test_a_downgrade_is_refused_before_any_workload_changes(deployed: Stack, cluster: Cluster) -> None:
    assert deployed.config["elk-stack:version"] == NEW_VERSION, "runs after the version bump"
    refusal = f"elk-stack:version is 9.4.3, older than {NEW_VERSION},"
    claims_before = claims(cluster, deployed.namespace)
    before = snapshot(cluster, deployed.namespace)
    deployed.set_config("elk-stack:version", "9.4.3")
    preview = deployed.pulumi("preview", check=False)
    assert preview.returncode != 0 and refusal in preview.stdout + preview.stderr, preview.stdout[-3000:]
    # Without the preview, the engine reaches the record itself: nothing that runs
    # Elasticsearch, Logstash or Kibana may have started by then.
    up = deployed.pulumi("up", "--yes", "--skip-preview", check=False)
    assert up.returncode != 0 and refusal in up.stdout + up.stderr, up.stdout[-3000:]
    after = snapshot(cluster, deployed.namespace)
    assert {c: w for c, w in after.items() if not w.kept(before[c])} == {}
    assert claims(cluster, deployed.namespace) == claims_before
    deployed.set_config("elk-stack:version", NEW_VERSION)
    deployed.pulumi("up", "--yes")
    deployed.pulumi("preview", "--expect-no-changes")


@pytest.mark.claim(
    "`pulumi up` holds a StatefulSet's update until its roll is done (every replica updated "
    "and Ready, on the new generation), and only then goes on to what waits for it: on pods "
    "that take 6 s to turn Ready, the Elasticsearch update lasts that long and Logstash "
    "starts after the new node is Ready"
)
def test_up_waits_for_a_slow_roll_before_going_on(deployed: Stack, cluster: Cluster) -> None:
    assert deployed.config["elk-stack:version"] == NEW_VERSION, "runs after the version bump"
    before = snapshot(cluster, deployed.namespace)
    deployed.set_config("elk-stack:version", SLOW_VERSION)
    log = engine_events(deployed.pulumi("up", "--yes", "--skip-preview", "--json").stdout)
    started = event_time(log, "resourcePreEvent", "$kubernetes:apps/v1:StatefulSet::elasticsearch")
    done = event_time(log, "resOutputsEvent", "$kubernetes:apps/v1:StatefulSet::elasticsearch")
    logstash = event_time(log, "resourcePreEvent", "$kubernetes:apps/v1:StatefulSet::logstash")
    # Whole seconds: the engine stamps its events so.
    assert done - started >= SLOW_READY_SECONDS - 1, (started, done)
    [pod] = cluster.get_json("pods", "-n", deployed.namespace, "-l", "app.kubernetes.io/name=elasticsearch")[
        "items"
    ]
    assert pod["spec"]["containers"][0]["image"].endswith(f":{SLOW_VERSION}")
    ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
    ready_at = datetime.fromisoformat(ready["lastTransitionTime"].replace("Z", "+00:00")).timestamp()
    assert ready_at <= logstash, "Logstash started before the new Elasticsearch node was Ready"
    wait_for_roll(cluster, deployed.namespace, before, rolled=set(WORKLOADS))
    deployed.pulumi("preview", "--expect-no-changes")


# --- helpers ------------------------------------------------------------------------


def set_path(stack: Stack, key: str, path: str, value: Any) -> None:
    """As `pulumi config set --path`: one nested value under a top-level key of the stack file."""
    section = copy.deepcopy(stack.config[key])
    *parents, leaf = path.split(".")
    node = section
    for parent in parents:
        node = node.setdefault(parent, {})
    node[leaf] = value
    stack.set_config(key, section)


def edit_pipeline_copy(stack: Stack) -> str:
    """Replace the scratch project's `pipelines` link by a copy and add a filter; the new text.

    The repository's own pipeline files stay untouched.
    """
    directory = stack.project / "pipelines"
    directory.unlink()
    shutil.copytree(PROJECT_DIR / "pipelines", directory)
    path = stack.project / PIPELINE
    original = path.read_text()
    edited = original.replace(
        "\noutput {",
        '\nfilter {\n  mutate {\n    add_tag => ["e2e-pipeline-edit"]\n  }\n}\n\noutput {',
        1,
    )
    assert edited != original, "the pipeline has no `output {` block to add a filter before"
    path.write_text(edited)
    return edited


def config_map_edit(stack: Stack) -> str:
    """The step a ConfigMap edit takes: an update, as Pulumi.yaml sets `kubernetes:enableConfigMapMutable`.

    Without it pulumi-kubernetes replaces a ConfigMap whose data changes, deleting the old
    one first as its name is fixed. A stack file may still set it to false.
    """
    project = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]
    default = project["kubernetes:enableConfigMapMutable"]["value"]
    mutable = str(stack.config.get("kubernetes:enableConfigMapMutable", default)).lower() == "true"
    return "update" if mutable else "replace"


def planned(stack: Stack) -> set[tuple[str, str, str]]:
    """`pulumi preview --json`: (operation, Kubernetes kind or type, logical name) of each change."""
    return {
        (op, urn.split("::")[2].split("$")[-1].split(":")[-1], urn.split("::")[-1])
        for op, urn in stack.planned_operations()
    }


def snapshot(cluster: Cluster, namespace: str) -> dict[str, Workload]:
    """Every component's live workload and pods."""
    result = {}
    for component, (kind, name) in WORKLOADS.items():
        live = cluster.get_json(kind, name, "-n", namespace)
        result[component] = Workload(
            uid=live["metadata"]["uid"],
            generation=live["metadata"]["generation"],
            revision=revision(live),
            annotations=live["spec"]["template"]["metadata"].get("annotations", {}),
            pods=pod_uids(cluster, namespace, component),
        )
    return result


def revision(workload: dict[str, Any]) -> str:
    """A StatefulSet's update revision; the revision number a Deployment gives its newest ReplicaSet."""
    if workload["kind"] == "StatefulSet":
        return str(workload["status"].get("updateRevision", ""))
    return str(workload["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", ""))


def rolled_out(workload: dict[str, Any]) -> bool:
    """Whether the controller has observed the latest spec and every replica runs it, Ready."""
    spec, status = workload["spec"], workload.get("status", {})
    replicas = spec.get("replicas", 1)
    counts = [status.get(k, 0) for k in ("replicas", "updatedReplicas", "readyReplicas")]
    settled = (
        status.get("observedGeneration") == workload["metadata"]["generation"] and counts == [replicas] * 3
    )
    if workload["kind"] == "StatefulSet":
        return settled and status.get("currentRevision") == status.get("updateRevision")
    return settled and status.get("availableReplicas", 0) == replicas


def pods_ready(cluster: Cluster, namespace: str, component: str, replicas: int) -> bool:
    """Exactly `replicas` pods of the component, all Ready, none on its way out."""
    pods = cluster.get_json("pods", "-n", namespace, "-l", f"app.kubernetes.io/name={component}")["items"]
    return len(pods) == replicas and all(
        "deletionTimestamp" not in pod["metadata"] and condition(pod, "Ready") for pod in pods
    )


def wait_for_roll(
    cluster: Cluster, namespace: str, before: dict[str, Workload], rolled: set[str]
) -> dict[str, Workload]:
    """Wait until the `rolled` components run only new, Ready pods; then check the others kept theirs.

    `pulumi up` already waits for each rollout; this waits for what it does not: the old
    pods of a Deployment leaving.
    """

    def settled(component: str) -> bool:
        kind, name = WORKLOADS[component]
        live = cluster.get_json(kind, name, "-n", namespace)
        if not (rolled_out(live) and pods_ready(cluster, namespace, component, live["spec"]["replicas"])):
            return False
        old = set(before[component].pods.values())
        return not old & set(pod_uids(cluster, namespace, component).values())

    for component in sorted(rolled):
        wait_until(partial(settled, component), f"{component} to roll out", timeout=ROLLOUT_TIMEOUT)
    after = snapshot(cluster, namespace)
    changed = {c: w for c, w in after.items() if c not in rolled and not w.kept(before[c])}
    assert changed == {}, f"only {sorted(rolled)} should have changed, but so did {sorted(changed)}"
    return after


def assert_rolled(before: Workload, after: Workload) -> None:
    """The same object with a newer spec and revision, and none of the pods it had."""
    assert after.uid == before.uid, "the workload was replaced"
    assert after.generation > before.generation
    assert after.revision != before.revision
    assert after.pods and not set(after.pods.values()) & set(before.pods.values())


def running_images(cluster: Cluster, namespace: str, component: str) -> list[str]:
    """The images of the component's pods' containers."""
    pods = cluster.get_json("pods", "-n", namespace, "-l", f"app.kubernetes.io/name={component}")["items"]
    return [container["image"] for pod in pods for container in pod["spec"]["containers"]]


def volume_capacity(cluster: Cluster, volume: str) -> str:
    """A PersistentVolume's capacity (cluster-scoped, so read as the admin)."""
    return str(cluster.get_json("pv", volume)["spec"]["capacity"]["storage"])
