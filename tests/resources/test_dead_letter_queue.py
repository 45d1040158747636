"""Logstash's dead-letter queue: events Elasticsearch refuses are kept on the queue volume, bounded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from tests.conftest import find, problems
from tools.render import Rendered

Render = Callable[..., Rendered]


def logstash_settings(rendered: Rendered) -> dict[str, Any]:
    settings: dict[str, Any] = yaml.safe_load(
        find(rendered.manifests, "ConfigMap", "elk-logstash-config")["data"]["logstash.yml"]
    )
    return settings


def test_a_persisted_queue_comes_with_a_bounded_dead_letter_queue_on_its_volume(render: Render) -> None:
    """A mapping conflict (HTTP 400) no longer drops the event: Logstash writes it to its DLQ."""
    rendered = render()
    settings = logstash_settings(rendered)
    assert settings["dead_letter_queue.enable"] is True
    assert settings["dead_letter_queue.max_bytes"] == "256mb"
    # Logstash's default path.dead_letter_queue is <path.data>/dead_letter_queue.
    assert "path.dead_letter_queue" not in settings
    stateful_set = find(rendered.manifests, "StatefulSet", "elk-logstash")
    mounts = stateful_set["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert {"name": "queue", "mountPath": settings["path.data"]} in mounts
    custom = render(logstash={"queue": {"deadLetterMaxBytes": "512mb"}})
    assert logstash_settings(custom)["dead_letter_queue.max_bytes"] == "512mb"


def test_a_memory_queue_has_no_dead_letter_queue(render: Render) -> None:
    """Without a volume it would fill the container's filesystem and vanish with the pod."""
    settings = logstash_settings(render(logstash={"queue": {"type": "memory"}}))
    assert not any(key.startswith("dead_letter_queue.") for key in settings)


def test_the_dead_letter_queue_and_the_queue_must_fit_the_volume_together() -> None:
    assert problems(logstash={"queue": {"maxBytes": "2gb", "storage": {"size": "2Gi"}}}) == [
        "logstash.queue.deadLetterMaxBytes: 256mb and maxBytes 2gb together do not fit the queue volume "
        "(storage.size 2Gi); lower one or raise storage.size"
    ]
    assert problems(logstash={"queue": {"maxBytes": "1gb", "deadLetterMaxBytes": "1100mb"}}) == [
        "logstash.queue.deadLetterMaxBytes: 1100mb and maxBytes 1gb together do not fit the queue volume "
        "(storage.size 2Gi); lower one or raise storage.size"
    ]
    assert problems(logstash={"queue": {"maxBytes": "1536mb"}}) == []
    assert problems(logstash={"queue": {"type": "memory", "maxBytes": "2gb"}}) == []
