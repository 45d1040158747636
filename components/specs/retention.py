"""What the setup Job installs so log data expires: an ILM policy and an index template.

Without them a log store fills its disks until Elasticsearch's flood-stage watermark
makes every index read-only. The template matches `retention.dataStreams` (by default the
data stream the shipped pipelines write, `logs-springboot-default`), rolls them over by
size or daily, and deletes backing indices `retention.maxAge` after their rollover. Bodies
are built here, as plain data, so the tests can check exactly what is sent.
"""

from __future__ import annotations

from typing import Any

from components.configuration import Retention, sizing

POLICY_NAME = "elk-stack-logs"
TEMPLATE_NAME = "elk-stack-logs"
# Above the built-in `logs` template (priority 100), which would otherwise match.
TEMPLATE_PRIORITY = 200
COMPONENT_NAME = "elk-stack-logs@custom"
# What Elasticsearch's own `logs` index template composes, in its order
# (x-pack/plugin/core/template-resources/src/main/resources/logs@template.json); only
# `logs@custom` may be missing.
BUILT_IN_LOGS_COMPONENTS = ["logs@mappings", "logs@settings", "logs@custom", "ecs@mappings"]
BUILT_INS_SINCE = (8, 13)
REFRESH_INTERVAL = "5s"
MANAGED = {"managed_by": "elk-stack"}


def ilm_policy(retention: Retention) -> dict[str, Any]:
    """Hot until rollover (daily or at `rolloverSize` per primary shard), deleted after `maxAge`."""
    return {
        "policy": {
            "_meta": MANAGED,
            "phases": {
                "hot": {
                    "min_age": "0ms",
                    "actions": {
                        "rollover": {"max_age": "1d", "max_primary_shard_size": retention.rollover_size}
                    },
                },
                "delete": {"min_age": retention.max_age, "actions": {"delete": {}}},
            },
        }
    }


def dynamic_settings(data_nodes: int) -> dict[str, Any]:
    """The settings an existing backing index can take too: the setup Job applies them to the data streams."""
    return {
        "index.lifecycle.name": POLICY_NAME,
        "index.number_of_replicas": sizing.replicas_for(data_nodes),
        # Logs are searched seconds after they happen, not milliseconds: refreshing
        # less often than the 1s default makes indexing cheaper.
        "index.refresh_interval": REFRESH_INTERVAL,
    }


def component_template(data_nodes: int) -> dict[str, Any]:
    """Our settings, as the `@custom` component template that `index_template` composes last."""
    return {
        "_meta": MANAGED,
        "template": {"settings": {"index.number_of_shards": 1, **dynamic_settings(data_nodes)}},
    }


def composes_built_ins(version: tuple[int, ...]) -> bool:
    """Whether the cluster has the `logs@…` and `ecs@mappings` component templates to compose.

    elastic/elasticsearch#99975 gave them these names at the end of 2023 (8.12); 8.13 is
    the first version we count on, as composing a missing one refuses the template.
    """
    return version >= BUILT_INS_SINCE


def index_template(data_nodes: int, retention: Retention, version: tuple[int, ...]) -> dict[str, Any]:
    """The data stream template for `dataStreams`: Elastic's built-in logs template, plus our settings.

    It composes exactly what the built-in `logs` template (`logs-*-*`, priority 100)
    composes, in its order, `logs@custom` included, so our streams keep `ignore_malformed`,
    the ECS dynamic mappings, the field-limit handling and the default pipeline; our
    settings come last, from `COMPONENT_NAME`. It is an index template of its own, not
    `logs@custom`, because `logs@custom` would give our delete phase to every `logs-*-*`
    stream, not only the `dataStreams` this stack was told to expire. Before 8.13 it
    carries its own minimal mappings instead.
    """
    template: dict[str, Any] = {
        "index_patterns": list(retention.data_streams),
        "data_stream": {},
        "priority": TEMPLATE_PRIORITY,
        "_meta": MANAGED,
    }
    if composes_built_ins(version):
        return template | {
            "composed_of": [*BUILT_IN_LOGS_COMPONENTS, COMPONENT_NAME],
            "ignore_missing_component_templates": ["logs@custom"],
        }
    return template | {
        "composed_of": [COMPONENT_NAME],
        "template": {
            "mappings": {
                "properties": {"@timestamp": {"type": "date"}, "message": {"type": "match_only_text"}}
            },
        },
    }
