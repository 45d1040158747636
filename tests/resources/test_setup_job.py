"""The setup Job's manifest: the script, the secrets it reads, and a replacement when a password changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import find
from tests.fake_elasticsearch import SCRIPT
from tests.readers import credential_files, secret_ref
from tools.render import Rendered

Render = Callable[..., Rendered]


def test_job_runs_the_script_with_secrets_from_secrets(rendered_stacks: dict[str, Rendered]) -> None:
    rendered = rendered_stacks["qa"]
    job = find(rendered.manifests, "Job", "elk-elasticsearch-setup")
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "docker.elastic.co/elasticsearch/elasticsearch:9.4.3"
    assert container["command"] == [
        "bash",
        "/opt/elk-stack/env-from-files.sh",
        "bash",
        "/opt/elk-stack/elasticsearch-setup.sh",
    ]
    env = {e["name"]: e for e in container["env"]}
    assert not [e for e in container["env"] if "valueFrom" in e], "no credential in the pod spec's env"
    assert env["ENV_FILES_DIR"]["value"] == "/mnt/elk-stack/env"
    files = credential_files(pod)
    assert files == {
        variable: secret_ref("elk-setup-credentials", key)
        for variable, key in (("SETUP_USERNAME", "username"), ("SETUP_PASSWORD", "password"))
    }, "no other user's password, `elastic`'s least"
    assert env["CA_CERT"]["value"] == "/opt/elk-stack/certs/ca.crt"
    assert env["ES_URL"]["value"] == rendered.outputs["elasticsearchUrl"]
    script = find(rendered.manifests, "ConfigMap", "elk-elasticsearch-setup-config")
    assert script["data"]["elasticsearch-setup.sh"] == SCRIPT.read_text()
    assert pod["restartPolicy"] == "OnFailure"


def test_job_is_replaced_when_its_password_changes(render: Render, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Job's template is immutable: a changed one makes Pulumi replace the Job, which logs in anew.

    The name stays fixed, so the old Job must be deleted first.
    """
    password = "credentials-setup"
    import tools.render as render_module

    def job(rendered: Rendered) -> dict[str, Any]:
        return find(rendered.manifests, "Job", "elk-elasticsearch-setup")

    before = render()
    original = render_module._placeholder

    def rotated(kind: str, name: str) -> str:
        return original(kind, name + "-rotated") if name == password else original(kind, name)

    monkeypatch.setattr(render_module, "_placeholder", rotated)
    after = render()
    assert job(after)["spec"]["template"] != job(before)["spec"]["template"]
    assert job(after)["metadata"]["name"] == job(before)["metadata"]["name"]
    record = next(r for r in after.resources if r["type"].endswith(":Job") and r["name"] == "setup")
    assert record["deleteBeforeReplace"] is True
    assert "kubernetes:apps/v1:StatefulSet::elasticsearch" in record["dependsOn"], (
        "runs after the node exists"
    )
