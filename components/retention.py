"""What the setup Job installs so log data expires: an ILM policy and an index template.

Without them a log store fills its disks until Elasticsearch's flood-stage watermark
makes every index read-only. The template matches `retention.dataStreams` (by default the
data stream the shipped pipelines write, `logs-springboot-default`), rolls them over by
size or daily, and deletes backing indices `retention.maxAge` after their rollover. Bodies
are built here, as plain data, so the tests can check exactly what is sent.
"""

from __future__ import annotations

from typing import Any

from components import sizing
from components.config import Retention

POLICY_NAME = "elk-stack-logs"
TEMPLATE_NAME = "elk-stack-logs"
# Above the built-in `logs` template (priority 100), which would otherwise match.
TEMPLATE_PRIORITY = 200
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


def index_template(data_nodes: int, retention: Retention) -> dict[str, Any]:
    """The data stream template: lifecycle, replicas for the cluster's size, a log-friendly refresh."""
    return {
        "index_patterns": list(retention.data_streams),
        "data_stream": {},
        "priority": TEMPLATE_PRIORITY,
        "_meta": MANAGED,
        "template": {
            "settings": {"index.number_of_shards": 1, **dynamic_settings(data_nodes)},
            "mappings": {
                "properties": {"@timestamp": {"type": "date"}, "message": {"type": "match_only_text"}}
            },
        },
    }
