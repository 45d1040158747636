"""A fake Elasticsearch for the setup script, and a way to run the script against it.

It answers the requests `scripts/elasticsearch-setup.sh` makes as Elasticsearch does,
refusals included, and records them, so tests check the request bodies against Elastic's
API and what the cluster ends up holding. `cluster.py` holds the fake's state and how its
snapshot, restore and settings APIs answer; `routes.py` sends each request to the handler
that answers it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess

import pytest

from tests.fake_elasticsearch.cluster import FakeElasticsearch, add_snapshot
from tests.fake_elasticsearch.routes import serve
from tools.render import PROJECT_DIR

__all__ = [
    "COMPONENT",
    "POLICY",
    "SCRIPT",
    "SETTINGS",
    "SETUP_AUTH",
    "SNAPSHOT_SCRIPT",
    "TEMPLATE",
    "FakeElasticsearch",
    "add_snapshot",
    "needs_bash_and_curl",
    "run_setup",
    "serve",
]

SCRIPT = PROJECT_DIR / "scripts" / "elasticsearch-setup.sh"
# The snapshot Job's script, run when the environment names a snapshot to take before a change.
SNAPSHOT_SCRIPT = PROJECT_DIR / "scripts" / "elasticsearch-snapshot.sh"
# The script runs with bash and curl: a test that runs it is skipped without them.
needs_bash_and_curl = pytest.mark.skipif(
    shutil.which("bash") is None or shutil.which("curl") is None,
    reason="the setup script needs bash and curl",
)


# The Authorization header of the user run_setup logs in as.
SETUP_AUTH = "Basic " + base64.b64encode(b"elk-stack-setup:setup-pw").decode()
POLICY = {"policy": {"phases": {"delete": {"min_age": "7d", "actions": {"delete": {}}}}}}
COMPONENT = {"template": {"settings": {"index.number_of_replicas": 1}}}
TEMPLATE = {
    "index_patterns": ["logs-springboot-*"],
    "data_stream": {},
    "composed_of": ["logs@mappings", "logs@settings", "logs@custom", "ecs@mappings", "elk-stack-logs@custom"],
    "ignore_missing_component_templates": ["logs@custom"],
}
SETTINGS = {"index.number_of_replicas": 1, "index.lifecycle.name": "elk-stack-logs"}


def run_setup(es: FakeElasticsearch, **overrides: str | None) -> subprocess.CompletedProcess[str]:
    """Run the script against `es`; an override of None leaves that variable unset."""
    env: dict[str, str | None] = {
        "PATH": os.environ["PATH"],
        "ES_URL": es.url,
        "ILM_POLICY_NAME": "elk-stack-logs",
        "ILM_POLICY": json.dumps(POLICY),
        "COMPONENT_TEMPLATE_NAME": "elk-stack-logs@custom",
        "COMPONENT_TEMPLATE": json.dumps(COMPONENT),
        "INDEX_TEMPLATE_NAME": "elk-stack-logs",
        "INDEX_TEMPLATE": json.dumps(TEMPLATE),
        "DATA_STREAMS": "logs-springboot-*,logs-myapp-*",
        "INDEX_SETTINGS": json.dumps(SETTINGS),
        "SETUP_USERNAME": "elk-stack-setup",
        "SETUP_PASSWORD": "setup-pw",
        "SNAPSHOT_REPOSITORY_NAME": "elk-stack",
        "SLM_POLICY_NAME": "elk-stack-snapshots",
        "WAIT_ATTEMPTS": "5",
        "WAIT_SECONDS": "0",
        **overrides,
    }
    script = SNAPSHOT_SCRIPT if env.get("SNAPSHOT_BEFORE_CHANGE") else SCRIPT
    return subprocess.run(
        ["bash", str(script)],
        env={key: value for key, value in env.items() if value is not None},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
