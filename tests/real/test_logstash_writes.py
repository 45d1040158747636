"""Logstash's writes, replayed with its rendered credentials: Logstash itself cannot run here.

Logstash is not to be had on these machines. What its `elasticsearch` output sends is
replayed instead: the bulk request it makes for each write target of the rendered pipeline
(components/pipeline.py reads them), as the user and over the TLS its container is given.
"""

from __future__ import annotations

from datetime import UTC, datetime

from components.configuration.pipeline import write_targets
from tests.real.conftest import run_setup
from tools.real_es import pods
from tools.real_es.stack import RealStack

LOGSTASH = "elk-logstash"


def test_the_logstash_users_bulk_writes_are_accepted(secured: RealStack) -> None:
    assert run_setup(secured).returncode == 0, "the templates first, as on a deploy"
    container = pods.container(secured.manifests, "StatefulSet", LOGSTASH)
    client = secured.client().as_user(
        pods.program_env(container)["ELASTICSEARCH_USER"],
        pods.program_env(container)["ELASTICSEARCH_PASSWORD"],
    )
    pipeline = secured.config_file("elk-logstash-config", "main.conf")
    targets = write_targets(pipeline)
    assert targets, "the shipped pipelines write somewhere"
    now = datetime.now(UTC).isoformat()
    for target in targets:
        name = target.pattern.replace("*", "real")
        lines = [{"create": {"_index": name}}, {"@timestamp": now, "message": "hello from the real tier"}]
        answer = client.request("POST", f"{container.env['ELASTICSEARCH_HOSTS']}/_bulk", lines, ndjson=True)
        assert answer.status == 200, answer.text
        assert answer.body["errors"] is False, answer.text
        assert answer.body["items"][0]["create"]["status"] == 201


def test_the_logstash_user_may_ask_what_logstash_asks_at_start(secured: RealStack) -> None:
    """`GET /` (the version) and `GET /_license`: absent here, so only their privileges are checked."""
    container = pods.container(secured.manifests, "StatefulSet", LOGSTASH)
    client = secured.client().as_user(
        pods.program_env(container)["ELASTICSEARCH_USER"],
        pods.program_env(container)["ELASTICSEARCH_PASSWORD"],
    )
    body = {"cluster": ["cluster:monitor/main", "cluster:monitor/xpack/license/get"]}
    answer = client.request(
        "POST", f"{container.env['ELASTICSEARCH_HOSTS']}/_security/user/_has_privileges", body
    )
    assert answer.status == 200, answer.text
    assert answer.body["has_all_requested"] is True, answer.text
