"""Retention as the setup Job sends it: the ILM policy, and the templates and settings of the streams.

The index and component templates compose Elastic's built-in logs template where the
version has it; existing data streams get the same settings.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable

from components.configuration import Retention
from components.configuration.pipeline import SHIPPED_PIPELINES, covers, write_targets
from tests.conftest import find
from tests.readers import job_env
from tools.render import PROJECT_DIR, Rendered

Render = Callable[..., Rendered]


def test_job_sends_the_stack_retention(rendered_stacks: dict[str, Rendered]) -> None:
    """qa keeps 14 days and test 3, from their stack files."""
    for stack, days in (("qa", "14d"), ("test", "3d")):
        policy = json.loads(job_env(rendered_stacks[stack])["ILM_POLICY"])
        phases = policy["policy"]["phases"]
        assert phases["delete"] == {"min_age": days, "actions": {"delete": {}}}
        assert phases["hot"]["actions"]["rollover"] == {"max_age": "1d", "max_primary_shard_size": "10gb"}


def test_index_template_matches_the_pipeline_data_stream(rendered_stacks: dict[str, Rendered]) -> None:
    rendered = rendered_stacks["qa"]
    template = json.loads(job_env(rendered)["INDEX_TEMPLATE"])
    assert template["index_patterns"] == ["logs-springboot-*"]
    assert template["data_stream"] == {}
    assert template["priority"] > 100, "above Elasticsearch's built-in logs template"
    settings = json.loads(job_env(rendered)["COMPONENT_TEMPLATE"])["template"]["settings"]
    assert settings["index.lifecycle.name"] == job_env(rendered)["ILM_POLICY_NAME"] == "elk-stack-logs"
    assert settings["index.number_of_replicas"] == 0, "one data node: a replica could never be placed"
    assert settings["index.refresh_interval"] == "5s"
    pipeline = find(rendered.manifests, "ConfigMap", "elk-logstash-config")["data"]["main.conf"]
    dataset = re.search(r'data_stream_dataset => "([^"]+)"', pipeline)
    stream_type = re.search(r'data_stream_type => "([^"]+)"', pipeline)
    assert dataset and stream_type
    stream = f"{stream_type.group(1)}-{dataset.group(1)}-default"
    assert fnmatch.fnmatch(stream, template["index_patterns"][0])
    assert fnmatch.fnmatch(stream, "logs-*-*"), "the Logstash user's role covers it"


def test_the_index_template_keeps_elastics_built_in_logs_template(
    rendered_stacks: dict[str, Rendered],
) -> None:
    """It composes what Elastic's `logs` template composes, in that order, and adds only our settings.

    Elastic's logs@template.json: composed_of logs@mappings, logs@settings, logs@custom,
    ecs@mappings; only logs@custom may be missing. Nothing of ours may override their
    mappings (ignore_malformed, ECS dynamic templates, field limits).
    """
    env = job_env(rendered_stacks["qa"])
    template = json.loads(env["INDEX_TEMPLATE"])
    assert template["composed_of"] == [
        "logs@mappings",
        "logs@settings",
        "logs@custom",
        "ecs@mappings",
        env["COMPONENT_TEMPLATE_NAME"],
    ]
    assert env["COMPONENT_TEMPLATE_NAME"].endswith("@custom")
    assert template["ignore_missing_component_templates"] == ["logs@custom"]
    assert "template" not in template, "no mappings or settings of its own above the built-ins"
    component = json.loads(env["COMPONENT_TEMPLATE"])
    assert set(component["template"]) == {"settings"}, "settings only: the built-in mappings stay"
    assert set(component["template"]["settings"]) == {
        "index.number_of_shards",
        "index.number_of_replicas",
        "index.lifecycle.name",
        "index.refresh_interval",
    }


def test_before_8_13_the_index_template_brings_its_own_mappings(render: Render) -> None:
    """Older clusters lack the `@`-named built-ins; composing them would refuse the template."""
    env = job_env(render(version="8.12.2"))
    template = json.loads(env["INDEX_TEMPLATE"])
    assert template["composed_of"] == [env["COMPONENT_TEMPLATE_NAME"]]
    assert "ignore_missing_component_templates" not in template
    assert template["template"]["mappings"]["properties"]["message"] == {"type": "match_only_text"}


def test_job_applies_the_template_settings_to_existing_data_streams(render: Render) -> None:
    """Existing backing indices get the template's dynamic settings, for the same streams."""
    for rendered in (
        render(),
        render(elasticsearch={"replicas": 3, "retention": {"dataStreams": ["logs-a-*", "logs-b-*"]}}),
    ):
        env = job_env(rendered)
        template = json.loads(env["INDEX_TEMPLATE"])
        settings = json.loads(env["INDEX_SETTINGS"])
        component = json.loads(env["COMPONENT_TEMPLATE"])
        assert env["DATA_STREAMS"] == ",".join(template["index_patterns"])
        assert settings == {
            k: v for k, v in component["template"]["settings"].items() if k != "index.number_of_shards"
        }
    assert settings["index.number_of_replicas"] == 1


def test_replicas_follow_the_number_of_data_nodes(render: Render) -> None:
    def replicas(rendered: Rendered) -> int:
        component = json.loads(job_env(rendered)["COMPONENT_TEMPLATE"])
        value: int = component["template"]["settings"]["index.number_of_replicas"]
        return value

    assert replicas(render()) == 0
    assert replicas(render(elasticsearch={"replicas": 3})) == 1
    node_sets = [
        {"name": "master", "replicas": 3, "roles": ["master"]},
        {"name": "data", "replicas": 1, "roles": ["data"]},
    ]
    assert replicas(render(elasticsearch={"nodeSets": node_sets})) == 0


def test_every_shipped_pipeline_writes_the_templated_data_stream() -> None:
    """Only the shipped ones: a user's own pipeline under pipelines/ may write elsewhere."""
    for relative in SHIPPED_PIPELINES:
        (target,) = write_targets((PROJECT_DIR / relative).read_text())
        assert (target.kind, target.written) == ("data stream", "logs-springboot-default"), relative
        assert any(covers(pattern, target.pattern) for pattern in Retention().data_streams), relative


def test_retention_covers_the_users_own_data_streams(render: Callable[..., Rendered]) -> None:
    streams = ["logs-springboot-*", "logs-myapp-*"]
    rendered = render(elasticsearch={"retention": {"dataStreams": streams, "maxAge": "30d"}})
    template = json.loads(job_env(rendered)["INDEX_TEMPLATE"])
    assert template["index_patterns"] == streams
    component = json.loads(job_env(rendered)["COMPONENT_TEMPLATE"])
    assert component["template"]["settings"]["index.lifecycle.name"] == "elk-stack-logs"
    policy = json.loads(job_env(rendered)["ILM_POLICY"])
    assert policy["policy"]["phases"]["delete"]["min_age"] == "30d"
