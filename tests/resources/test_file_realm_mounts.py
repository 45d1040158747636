"""Who reads the file realm and `elastic`'s password: the nodes mount the realm, and only they see it."""

from __future__ import annotations

from typing import Any

import pytest

from components.specs.elasticsearch import FILE_REALM_DIR
from tests.conftest import STACKS
from tests.readers import credential_files
from tools.render import Rendered


def pod_templates(rendered: Rendered) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{m['kind']}/{m['metadata']['name']}", m["spec"]["template"]["spec"])
        for m in rendered.manifests
        if m["kind"] in ("StatefulSet", "Deployment", "Job")
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_nodes_see_elastics_password_and_only_to_bootstrap_it(
    rendered_stacks: dict[str, Rendered], stack: str
) -> None:
    """No probe, Job or client logs in as `elastic`: its Secret is the nodes' bootstrap password only."""
    rendered = rendered_stacks[stack]
    readers = []
    for where, spec in pod_templates(rendered):
        for volume in spec.get("volumes", []):
            if volume.get("secret", {}).get("secretName") == "elk-elastic-credentials":
                readers.append((where, "volume", volume["name"]))
            for source in volume.get("projected", {}).get("sources", []):
                if source.get("secret", {}).get("name") == "elk-elastic-credentials":
                    readers.append((where, "projected", volume["name"]))
        for container in spec["containers"] + spec.get("initContainers", []):
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef", {})
                if ref.get("name") == "elk-elastic-credentials":
                    readers.append((where, container["name"], entry["name"]))
            for source in container.get("envFrom", []):
                assert source.get("secretRef", {}).get("name") != "elk-elastic-credentials", where
    nodes = [m["metadata"]["name"] for m in rendered.manifests if m["kind"] == "StatefulSet"]
    expected = [
        (f"StatefulSet/{name}", "volume", "bootstrap-password")
        for name in nodes
        if name.startswith("elk-elasticsearch")
    ]
    assert readers and sorted(readers) == sorted(expected)


@pytest.mark.parametrize("stack", STACKS)
def test_nodes_mount_the_file_realm_and_probe_as_the_probe_user(
    rendered_stacks: dict[str, Rendered], stack: str
) -> None:
    for where, spec in pod_templates(rendered_stacks[stack]):
        if not where.startswith("StatefulSet/elk-elasticsearch"):
            continue
        (container,) = spec["containers"]
        env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
        assert env["FILE_REALM_DIR"] == FILE_REALM_DIR
        files = credential_files(spec)
        assert files["PROBE_USERNAME"] == {
            "secretKeyRef": {"name": "elk-probe-credentials", "key": "username"}
        }
        assert files["PROBE_PASSWORD"] == {
            "secretKeyRef": {"name": "elk-probe-credentials", "key": "password"}
        }
        for probe in (container["readinessProbe"]["exec"], container["lifecycle"]["preStop"]["exec"]):
            assert probe["command"][:2] == ["bash", "/opt/elk-stack/env-from-files.sh"]
        volume = next(v for v in spec["volumes"] if v["name"] == "file-realm")
        assert volume["secret"]["secretName"] == "elk-elasticsearch-file-realm"
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == "file-realm"]
        # No subPath: the kubelet updates the files in place and Elasticsearch re-reads them.
        assert mount == {"name": "file-realm", "mountPath": FILE_REALM_DIR, "readOnly": True}
