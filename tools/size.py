"""Print the disk each Elasticsearch data node needs for a stack's log volume, and check its PVCs.

The estimate itself lives in `components.sizing`; this tool only reads the stack file,
shows every input and factor as a table, and compares each data node set's configured
volume with what one of its nodes needs.

    python -m tools.size qa
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Sequence
from typing import Any

from components.config import PROJECT, ConfigError, load_config
from components.sizing import estimate, format_bytes, shortfall_message
from components.units import parse_quantity
from tools.render import PROJECT_DIR, StackFileError, stack_config

_DAYS = re.compile(r"^(?P<days>[1-9][0-9]*)d$")
NOT_SET = (
    "elasticsearch.capacity is not set, so there is no log volume to size for: set "
    "elasticsearch.capacity.eventsPerDay and elasticsearch.capacity.avgEventBytes "
    "(e.g. 2000000 and 800) in the stack file or with `pulumi config set --path`"
)


def retention_days(max_age: str) -> int:
    """The days in an ILM `max_age` such as `14d`; raise ValueError for anything else."""
    match = _DAYS.match(max_age)
    if match is None:
        raise ValueError(f"elasticsearch.retention.maxAge: {max_age!r} is not a number of days like 14d")
    return int(match["days"])


def aligned(rows: Sequence[tuple[str, ...]]) -> list[str]:
    """Rows as lines whose columns line up, two spaces apart."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def storage_path(path: str) -> str:
    """The key of a node set's volume size, whether `path` names the node set or the size itself."""
    return path if path.endswith(".storage.size") else f"{path}.storage.size"


def size_report(config: Any) -> str:
    """The estimate for a validated stack config, and whether each data node set's PVC holds it.

    `config.elasticsearch` provides `capacity` (None or `events_per_day`, `avg_event_bytes`),
    `retention.max_age` and `data_node_sets()` (each with `replicas`, `storage.size`, and a
    `path` naming the node set, e.g. `elasticsearch.nodeSets[1]`, or its storage size).
    """
    elasticsearch = config.elasticsearch
    capacity = getattr(elasticsearch, "capacity", None)
    if capacity is None:
        return NOT_SET
    node_sets = elasticsearch.data_node_sets()
    data_nodes = sum(node_set.replicas for node_set in node_sets)
    result = estimate(
        events_per_day=capacity.events_per_day,
        avg_event_bytes=capacity.avg_event_bytes,
        retention_days=retention_days(elasticsearch.retention.max_age),
        data_nodes=data_nodes,
        replicas=0 if data_nodes == 1 else 1,
    )
    volumes: list[tuple[str, ...]] = [("Data volume", "Nodes", "Configured", "Needed", "")]
    shortfalls = []
    for node_set in node_sets:
        configured_bytes = math.ceil(parse_quantity(node_set.storage.size))
        enough = configured_bytes >= result.per_node_bytes
        path = storage_path(node_set.path)
        volumes.append(
            (
                path,
                str(node_set.replicas),
                node_set.storage.size,
                format_bytes(result.per_node_bytes),
                "enough" if enough else "too small",
            )
        )
        if not enough:
            message = shortfall_message(path, configured_bytes, result, node_set.storage.size)
            shortfalls.append(f"warning: {message}")
    return "\n".join([*aligned(result.rows()), "", *aligned(volumes), *shortfalls])


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; errors are one clear message and exit status 1."""
    parser = argparse.ArgumentParser(prog="python -m tools.size", description=__doc__.splitlines()[0])
    parser.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    args = parser.parse_args(argv)
    try:
        raw = stack_config(args.stack)
        config = load_config(
            {key.removeprefix(f"{PROJECT}:"): value for key, value in raw.items()}, PROJECT_DIR
        )
        report = size_report(config)
    except (StackFileError, ConfigError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
