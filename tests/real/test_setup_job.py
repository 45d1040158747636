"""The setup Job's own script, from the rendered Job pod, against a real node."""

from __future__ import annotations

import time

from components.generated import crypto
from tests.real.conftest import run_setup
from tools.real_es import pods
from tools.real_es.stack import RealStack

NOBODY = "elk-stack-nobody"


def test_the_setup_job_completes(secured: RealStack) -> None:
    run = run_setup(secured)
    assert run.returncode == 0, run.output
    assert run.output.rstrip().endswith("done")


def test_the_setup_job_installs_its_templates_on_the_node(secured: RealStack) -> None:
    assert run_setup(secured).returncode == 0
    job = pods.container(secured.manifests, "Job", "elk-elasticsearch-setup")
    for kind, name in (
        ("_component_template", job.env["COMPONENT_TEMPLATE_NAME"]),
        ("_index_template", job.env["INDEX_TEMPLATE_NAME"]),
    ):
        answer = secured.request("GET", f"/{kind}/{name}")
        assert answer.status == 200, answer.text


def test_a_second_run_changes_nothing_and_completes(secured: RealStack) -> None:
    assert run_setup(secured).returncode == 0
    again = run_setup(secured)
    assert again.returncode == 0, again.output


def add_user_without_role(stack: RealStack, password: str) -> None:
    """A file-realm user with no role at all, written into the node's mounted `users` file."""
    users = stack.running["elk-elasticsearch-0"].directory / "volumes" / "file-realm" / "users"
    users.write_text(users.read_text() + f"{NOBODY}:{crypto.bcrypt_hash(password)}\n")
    deadline = time.monotonic() + 30
    client = stack.client().as_user(NOBODY, password)
    while client.request("GET", stack.url("/_security/_authenticate")).status != 200:
        assert time.monotonic() < deadline, "the node never reloaded its users file"
        time.sleep(1)


def test_an_authorization_error_stops_the_job_at_once(qa: RealStack) -> None:
    """A user who logs in but lacks `monitor` gets 403 on the first request: no retry can help."""
    password = crypto.password(24)
    add_user_without_role(qa, password)
    run = run_setup(qa, env={"SETUP_USERNAME": NOBODY, "SETUP_PASSWORD": password}, timeout=60)
    assert run.returncode == 1
    assert run.seconds < 30, "no retries"
    assert "HTTP 403" in run.output and NOBODY in run.output
    assert "security_exception" in run.output, "Elasticsearch's answer is printed"
