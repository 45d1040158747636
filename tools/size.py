"""Print the disk each Elasticsearch data node needs for a stack's log volume, and check its PVCs.

The estimate itself lives in `components.configuration.sizing`; this tool only reads the stack file,
shows every input and factor as a table, and compares each data node set's configured
volume with what one of its nodes needs.

    python -m tools.size qa
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence

from components.configuration import PROJECT, ConfigError, StackConfig, load_config, parse_config_values
from components.configuration.sizing import format_bytes
from tools.render import PROJECT_DIR, stack_config
from tools.stack_file import StackFileError

NOT_SET = (
    "elasticsearch.capacity is not set, so there is no log volume to size for: set "
    "elasticsearch.capacity.eventsPerDay and elasticsearch.capacity.avgEventBytes "
    "(e.g. 2000000 and 800) in the stack file or with `pulumi config set --path`"
)


def aligned(rows: Sequence[tuple[str, ...]]) -> list[str]:
    """Rows as lines whose columns line up, two spaces apart."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def size_report(config: StackConfig) -> str:
    """The estimate for a validated stack config, and whether each data node set's PVC holds it."""
    result = config.elasticsearch.capacity_estimate()
    if result is None:
        return NOT_SET
    volumes: list[tuple[str, ...]] = [("Data volume", "Nodes", "Configured", "Needed", "")]
    shortfalls = []
    for check in config.elasticsearch.volume_checks():
        needed = format_bytes(result.per_node_bytes)
        verdict = "enough" if check.enough else "too small"
        volumes.append((check.path, str(check.replicas), check.configured, needed, verdict))
        if not check.enough:
            shortfalls.append(f"warning: {check.path}: {check.shortfall}")
    return "\n".join([*aligned(result.rows()), "", *aligned(volumes), *shortfalls])


def unenforced(raw: dict[str, str]) -> dict[str, str]:
    """The config with `elasticsearch.capacity.enforce` off, to size a stack whose check fails."""
    elasticsearch = parse_config_values(raw).get("elasticsearch")
    if not isinstance(elasticsearch, dict) or not isinstance(elasticsearch.get("capacity"), dict):
        return raw
    relaxed = {**elasticsearch, "capacity": {**elasticsearch["capacity"], "enforce": False}}
    return {**raw, "elasticsearch": json.dumps(relaxed)}


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; errors are one clear message and exit status 1.

    When `capacity.enforce` makes a too-small volume an error, the breakdown is printed
    first: it is what shows how much is needed.
    """
    parser = argparse.ArgumentParser(prog="python -m tools.size", description=__doc__.splitlines()[0])
    parser.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    args = parser.parse_args(argv)
    try:
        raw = {key.removeprefix(f"{PROJECT}:"): value for key, value in stack_config(args.stack).items()}
        report = size_report(load_config(raw, PROJECT_DIR))
    except StackFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ConfigError as error:
        with contextlib.suppress(ConfigError):  # invalid for other reasons too: nothing to size
            print(size_report(load_config(unenforced(raw), PROJECT_DIR)))
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
