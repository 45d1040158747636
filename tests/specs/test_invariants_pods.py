"""The pod, secret and exposure checks, each on small hand-written manifests.

Requests, probes, volume sources, config directories and checksums; secrets off command
lines; stored keys; bind addresses.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests import invariants
from tests.invariants import Manifest
from tests.specs.manifest_builders import (
    container,
    workload,
)


def test_init_container_needs_requests_too() -> None:
    """Init containers are scheduled with the pod; without requests they run unbounded."""
    manifest = workload()
    manifest["spec"]["template"]["spec"]["initContainers"] = [{"name": "setup", "image": "busybox"}]
    assert len(invariants.resource_violations([manifest])) == 5, "cpu, memory and disk requests, two limits"


def test_probe_is_required_of_workloads_only() -> None:
    """A Job's pod is never behind a Service, so it needs no readiness probe."""
    bare = container(readinessProbe=None)
    assert invariants.readiness_violations([workload("Job", containers=[bare])]) == []
    assert len(invariants.readiness_violations([workload("DaemonSet", containers=[bare])])) == 1


def test_liveness_is_required_of_workloads_and_never_follows_a_health_report() -> None:
    own_port = {"tcpSocket": {"port": "http"}}
    assert invariants.liveness_violations([workload(containers=[container(livenessProbe=own_port)])]) == []
    assert invariants.liveness_violations([workload("Job", containers=[container(livenessProbe=None)])]) == []
    missing = invariants.liveness_violations([workload(containers=[container(livenessProbe=None)])])
    assert [v.rsplit(": ", 1)[1] for v in missing] == ["livenessProbe is missing"]
    for probe in ({"httpGet": {"path": "/api/status", "port": 5601}}, {"exec": {"command": ["curl"]}}):
        [violation] = invariants.liveness_violations([workload(containers=[container(livenessProbe=probe)])])
        assert "livenessProbe must check the process's own port" in violation


def test_projected_volume_has_a_source() -> None:
    projected = {"name": "settings", "projected": {"sources": [{"configMap": {"name": "a"}}]}}
    assert invariants.volume_source_violations([workload(volumes=[projected])]) == []


def test_volume_with_only_a_name_is_flagged() -> None:
    violations = invariants.volume_source_violations([workload(volumes=[{"name": "settings"}])])
    assert violations == [
        "Deployment/app: spec.template.spec.volumes[0] 'settings' has no source such as configMap or secret"
    ]


def shadowing(mount: Manifest, volume: Manifest) -> list[str]:
    """Shadowing violations of one container with one mount of one volume."""
    app = container(volumeMounts=[{"name": "v", **mount}])
    return invariants.config_shadowing_violations(
        [workload(containers=[app], volumes=[{"name": "v", **volume}])]
    )


def test_subpath_mount_of_one_file_passes() -> None:
    mount = {"mountPath": "/usr/share/kibana/config/kibana.yml", "subPath": "kibana.yml"}
    assert shadowing(mount, {"configMap": {"name": "kibana"}}) == []


@pytest.mark.parametrize(
    "path", ["/usr/share/kibana/config", "/usr/share/kibana/config/", "/usr/share/kibana"]
)
def test_secret_over_config_directory_is_flagged(path: str) -> None:
    """The directory itself, with a trailing slash, or a parent: all hide the image's files."""
    assert len(shadowing({"mountPath": path}, {"secret": {"secretName": "kibana"}})) == 1


def test_writable_volume_over_config_directory_is_not_this_check() -> None:
    """An emptyDir there is a different pattern (copy-in by an init container), not a ConfigMap."""
    assert shadowing({"mountPath": "/usr/share/logstash/config"}, {"emptyDir": {}}) == []


def test_checksum_is_needed_only_with_a_config_map() -> None:
    config_volume = [{"name": "settings", "configMap": {"name": "settings"}}]
    assert invariants.checksum_violations([workload()]) == []
    assert len(invariants.checksum_violations([workload(volumes=config_volume)])) == 1
    annotated = workload(volumes=config_volume, annotations={invariants.CHECKSUM_ANNOTATION: "abc"})
    assert invariants.checksum_violations([annotated]) == []


def test_projected_config_map_needs_the_checksum() -> None:
    projected = [{"name": "settings", "projected": {"sources": [{"configMap": {"name": "settings"}}]}}]
    assert len(invariants.checksum_violations([workload(volumes=projected)])) == 1


def secret_env(name: str) -> Manifest:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": "credentials", "key": "password"}}}


def script(text: str) -> Manifest:
    return {"kind": "ConfigMap", "metadata": {"name": "scripts"}, "data": {"run.sh": text}}


def test_secret_exposure_knows_each_image_entrypoint() -> None:
    """The mapping applies only where the entrypoint runs, and only to its names."""
    check = invariants.secret_exposure_violations
    kibana = "docker.elastic.co/kibana/kibana:9.1.0"
    es = "docker.elastic.co/elasticsearch/elasticsearch:9.1.0"
    ours = container("k", kibana, env=[secret_env("KIBANA_ES_PASSWORD")])
    assert check([workload(containers=[ours])]) == []
    flagged = [
        workload(containers=[container("k", kibana, env=[secret_env("ELASTICSEARCH_PASSWORD")])]),
        workload(containers=[container("k", kibana, env=[secret_env("XPACK_SECURITY_ENCRYPTIONKEY")])]),
        workload(containers=[container("e", es, env=[secret_env("bootstrap.password")])]),
    ]
    assert [len(check([manifest])) for manifest in flagged] == [1, 1, 1]
    assert check([workload(containers=[container("e", es, env=[secret_env("ELASTIC_PASSWORD")])])]) == []
    # A replaced command never runs the entrypoint, so nothing maps the name to a flag.
    own = container("k", kibana, command=["sleep"], env=[secret_env("ELASTICSEARCH_PASSWORD")])
    assert check([workload(containers=[own])]) == []


def test_no_credential_travels_in_a_pod_specs_env() -> None:
    """`kubectl get pod -o yaml` shows env values' sources to anyone who may read pods: files instead."""
    check = invariants.secret_env_violations
    assert check([workload(containers=[container(env=[secret_env("SETUP_PASSWORD")])])]) == [
        "Deployment/app: spec.template.spec.containers[0] (app): env SETUP_PASSWORD comes from Secret "
        "credentials; mount it as a file instead"
    ]
    bulk = container(envFrom=[{"secretRef": {"name": "credentials"}}])
    assert len(check([workload(containers=[bulk])])) == 1
    assert (
        check([workload(containers=[container(env=[{"name": "ENV_FILES_DIR", "value": "/mnt/env"}])])]) == []
    )


def test_a_credential_file_named_after_a_kibana_setting_would_become_a_flag() -> None:
    """env-from-files.sh exports the file's name before kibana-docker maps names to flags."""
    kibana = "docker.elastic.co/kibana/kibana:9.1.0"
    files = [{"name": "ENV_FILES_DIR", "value": "/mnt/env"}]
    mounts = [{"name": "env-files", "mountPath": "/mnt/env"}]

    def projected(variable: str) -> list[Manifest]:
        items = [{"key": "password", "path": variable}]
        return [{"name": "env-files", "projected": {"sources": [{"secret": {"name": "c", "items": items}}]}}]

    wired = container("k", kibana, env=files, volumeMounts=mounts)
    flagged = workload(containers=[wired], volumes=projected("ELASTICSEARCH_PASSWORD"))
    assert len(invariants.secret_exposure_violations([flagged])) == 1
    ours = workload(containers=[wired], volumes=projected("KIBANA_ES_PASSWORD"))
    assert invariants.secret_exposure_violations([ours]) == []


def test_secret_exposure_finds_secrets_expanded_into_commands_and_scripts() -> None:
    check = invariants.secret_exposure_violations
    probe = {"exec": {"command": ["sh", "-c", "curl -sf localhost -u elastic:$(ELASTIC_PASSWORD)"]}}
    probed = container(env=[secret_env("ELASTIC_PASSWORD")], readinessProbe=probe)
    assert len(check([workload(containers=[probed])])) == 1
    assert len(check([script('curl -sf -u "elastic:$ELASTIC_PASSWORD" "$URL"\n')])) == 1
    assert len(check([script('curl -sf -H "Authorization: Basic $TOKEN" "$URL"\n')])) == 1
    # The project's way: curl reads the user from a config on a file descriptor.
    assert check([script('curl -sf -K <(printf \'user = "elastic:%s"\' "$P") "$URL"\n')]) == []


def test_secret_exposure_finds_repository_credentials_in_a_settings_file() -> None:
    """Snapshot repository credentials are secure settings, read only from the keystore."""
    check = invariants.secret_exposure_violations

    def settings_file(settings: dict[str, Any]) -> Manifest:
        return {
            "kind": "ConfigMap",
            "metadata": {"name": "es-config"},
            "data": {"elasticsearch.yml": yaml.safe_dump(settings)},
        }

    leaked = settings_file(
        {"s3.client.default.access_key": "AKIA", "gcs.client.backup.credentials_file": "{}"}
    )
    assert [v.split(" sets the secure setting ")[1] for v in check([leaked])] == [
        "gcs.client.backup.credentials_file; it belongs in the keystore",
        "s3.client.default.access_key; it belongs in the keystore",
    ]
    # The S3 client's endpoint and path style are ordinary settings.
    assert check([settings_file({"s3.client.default.endpoint": "minio:9000", "path.repo": ["/x"]})]) == []


def test_projected_sources_keys_are_checked() -> None:
    settings = {"kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"app.yml": ""}}
    source = {"configMap": {"name": "settings", "items": [{"key": "app.yaml", "path": "app.yml"}]}}
    app = container(volumeMounts=[{"name": "v", "mountPath": "/etc/app"}])
    projected = workload(containers=[app], volumes=[{"name": "v", "projected": {"sources": [source]}}])
    assert invariants.stored_key_violations([settings, projected]) == [
        "Deployment/app: spec.template.spec.volumes[0] (v): ConfigMap 'settings' has no key 'app.yaml'"
    ]


@pytest.mark.parametrize("value", ["0.0.0.0", "_site_", ["_local_", "_site_"]])
def test_good_bind_addresses_pass(value: Any) -> None:
    config_map = {
        "kind": "ConfigMap",
        "metadata": {"name": "es"},
        "data": {"elasticsearch.yml": yaml.safe_dump({"network.host": value})},
    }
    assert invariants.exposure_violations([config_map]) == []


@pytest.mark.parametrize("value", ["127.0.0.1", "localhost", "_local_", "::1", ["_local_"], "10.0.0.1"])
def test_loopback_or_unknown_bind_addresses_fail(value: Any) -> None:
    config_map = {
        "kind": "ConfigMap",
        "metadata": {"name": "es"},
        "data": {"elasticsearch.yml": yaml.safe_dump({"network": {"host": value}})},
    }
    assert len(invariants.exposure_violations([config_map])) == 1
