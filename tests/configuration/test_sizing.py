"""Capacity sizing: the estimate's arithmetic, its formatting, and `python -m tools.size`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from components.configuration import StackConfig, load_config, sizing
from components.configuration.sizing import (
    INDEXING_OVERHEAD,
    USABLE_SHARE,
    estimate,
    format_bytes,
    shortfall_message,
)
from components.configuration.units import parse_quantity
from tools import size
from tools.render import PROJECT_DIR, stack_config

GI = 2**30


def stack(*, capacity: dict[str, Any] | None = None, **elasticsearch: Any) -> StackConfig:
    """A validated stack config with the given `elasticsearch` keys (14 days of retention)."""
    section: dict[str, Any] = {"retention": {"maxAge": "14d"}, **elasticsearch}
    if capacity is not None:
        section["capacity"] = capacity
    return load_config({"namespace": "elk", "elasticsearch": json.dumps(section)}, PROJECT_DIR)


CAPACITY = {"eventsPerDay": 2_000_000, "avgEventBytes": 800}


def test_the_factors_are_the_ones_the_module_cites() -> None:
    """The docstring sources each factor from Elastic; the code must use the values it cites."""
    doc = sizing.__doc__ or ""
    overhead = re.search(r"\*\*Indexing overhead, ([\d.]+)\.\*\*", doc)
    share = re.search(r"\*\*Usable share of the disk, ([\d.]+)\.\*\*", doc)
    watermark = re.search(r"low watermark \((\d+)%\)", doc)
    assert overhead and share and watermark
    assert float(overhead[1]) == INDEXING_OVERHEAD
    assert USABLE_SHARE == float(share[1]) == int(watermark[1]) / 100, "data stays under the low watermark"


def test_single_node_worked_example() -> None:
    # 2,000,000 events x 800 B = 1,600,000,000 B/day
    # x 1.2 indexing = 1,920,000,000; x 1 copy; x 14 days = 26,880,000,000
    # / 0.85 = 31,623,529,411.76... -> 31,623,529,412 B (29.45 GiB), all on the one node.
    result = estimate(2_000_000, 800, 14, data_nodes=1, replicas=0)
    assert result.raw_bytes_per_day == 1_600_000_000
    assert result.total_bytes == 31_623_529_412
    assert result.per_node_bytes == 31_623_529_412
    assert format_bytes(result.per_node_bytes) == "29.5Gi"


def test_three_data_nodes_with_a_replica() -> None:
    # 1,600,000,000 x 1.2 = 1,920,000,000; x 2 copies = 3,840,000,000; x 14 = 53,760,000,000
    # / 0.85 = 63,247,058,823.53 -> 63,247,058,824; / 3 nodes = 21,082,352,941.33 -> 21,082,352,942.
    result = estimate(2_000_000, 800, 14, data_nodes=3, replicas=1)
    assert result.total_bytes == 63_247_058_824
    assert result.per_node_bytes == 21_082_352_942


def test_exact_factors_do_not_round_up_a_whole_result() -> None:
    # 187 x 1.2 x 3 days = 673.2; / 0.85 = 792 exactly. In floats it is 792.0000000000001 -> 793.
    assert estimate(187, 1, 3, data_nodes=1, replicas=0).total_bytes == 792


def test_nodes_share_the_total_rounded_up() -> None:
    # 17 x 1.2 x 2 copies / 0.85 = 48 bytes over 5 nodes: 9.6 each, so 10.
    result = estimate(17, 1, 1, data_nodes=5, replicas=1)
    assert result.total_bytes == 48
    assert result.per_node_bytes == 10


def test_a_replica_doubles_the_cluster_total() -> None:
    without = estimate(17, 1, 1, data_nodes=2, replicas=0)
    with_replica = estimate(17, 1, 1, data_nodes=2, replicas=1)
    assert (without.total_bytes, with_replica.total_bytes) == (24, 48)
    assert (without.per_node_bytes, with_replica.per_node_bytes) == (12, 24)


def test_a_replica_needs_a_second_data_node() -> None:
    message = (
        "1 replicas cannot be allocated on 1 data node(s): a replica never shares a node with its primary"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        estimate(17, 1, 1, data_nodes=1, replicas=1)


def test_one_replica_from_the_second_data_node_on() -> None:
    assert [sizing.replicas_for(nodes) for nodes in (1, 2, 3, 20)] == [0, 1, 1, 1]


def test_rows_say_one_day_and_no_replicas_in_words() -> None:
    rows = dict(estimate(1000, 100, 1, data_nodes=1, replicas=0).rows())
    assert rows["Retention"] == "1 day"
    assert rows["Copies of each shard"] == "\N{MULTIPLICATION SIGN} 1 (0 replicas)"
    assert dict(estimate(1000, 100, 2, data_nodes=3, replicas=2).rows())["Copies of each shard"] == (
        "\N{MULTIPLICATION SIGN} 3 (2 replicas)"
    )


@pytest.mark.parametrize("field", ["events_per_day", "avg_event_bytes", "retention_days", "data_nodes"])
def test_inputs_must_be_positive(field: str) -> None:
    inputs = {"events_per_day": 1, "avg_event_bytes": 1, "retention_days": 1, "data_nodes": 1, "replicas": 0}
    with pytest.raises(ValueError, match=f"{field} must be at least 1"):
        estimate(**{**inputs, field: 0})


def test_rows_show_inputs_factors_and_results() -> None:
    rows = dict(estimate(2_000_000, 800, 14, data_nodes=3, replicas=1).rows())
    assert rows["Events per day"] == "2,000,000"
    assert rows["Average event size"] == "800 B"
    assert rows["Retention"] == "14 days"
    assert rows["Data nodes"] == "3"
    assert rows["Raw data per day"] == "1.5Gi"
    assert rows["Indexing overhead"] == "\N{MULTIPLICATION SIGN} 1.2"
    assert rows["Copies of each shard"] == "\N{MULTIPLICATION SIGN} 2 (1 replica)"
    assert rows["Usable share of each disk"].startswith("85%")
    assert rows["Disk for the whole cluster"] == "59Gi"  # 58.903 GiB, rounded up
    assert rows["Disk for each data node"] == "19.7Gi"


@pytest.mark.parametrize(
    ("size_bytes", "text"),
    [
        (0, "0"),
        (1023, "1023"),
        (1024, "1Ki"),
        (1536, "1.5Ki"),
        (20 * GI, "20Gi"),
        (GI + 1, "1.1Gi"),  # rounded up, never down
        (int(1023.96 * 2**20), "1Gi"),  # 1023.96Mi rounds up to 1024Mi, which is 1Gi
        (3 * 2**40, "3Ti"),
    ],
)
def test_format_bytes(size_bytes: int, text: str) -> None:
    assert format_bytes(size_bytes) == text


def test_format_bytes_is_a_quantity_at_least_as_large() -> None:
    for size_bytes in [1, 1000, 4097, 10**9, 31_623_529_412, 7 * 2**40 + 3]:
        assert parse_quantity(format_bytes(size_bytes)) >= size_bytes


def test_format_bytes_refuses_negative_sizes() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_bytes(-1)


def test_shortfall_message_names_the_key_and_both_sizes() -> None:
    result = estimate(2_000_000, 800, 14, data_nodes=1, replicas=0)
    assert shortfall_message("elasticsearch.storage.size", 10 * GI, result, "10Gi") == (
        "elasticsearch.storage.size: 10Gi is smaller than the ~29.5Gi each data node needs for "
        "2,000,000 events/day \N{MULTIPLICATION SIGN} 800 B for 14 days (see `make size`)"
    )


def test_shortfall_message_formats_the_size_when_there_is_no_text() -> None:
    result = estimate(2_000_000, 800, 1, data_nodes=1, replicas=0)
    message = shortfall_message("elasticsearch.nodeSets[1].storage.size", GI, result, "")
    assert message.startswith("elasticsearch.nodeSets[1].storage.size: 1Gi is smaller than the ~2.2Gi")
    assert message.endswith("for 1 day (see `make size`)")


def test_report_without_capacity_is_one_line_saying_what_to_set() -> None:
    report = size.size_report(stack())
    assert report == size.NOT_SET
    assert "\n" not in report
    assert "elasticsearch.capacity is not set" in report
    assert "eventsPerDay" in report and "avgEventBytes" in report


def test_report_when_the_volume_is_enough() -> None:
    report = size.size_report(stack(capacity=CAPACITY, storage={"size": "30Gi"}))
    lines = report.splitlines()
    assert "Events per day              2,000,000" in lines
    assert "Disk for each data node     29.5Gi" in lines
    assert "elasticsearch.storage.size  1      30Gi        29.5Gi  enough" in lines
    assert "warning" not in report


def test_report_when_the_volume_is_too_small() -> None:
    report = size.size_report(stack(capacity=CAPACITY, storage={"size": "20Gi"}))
    lines = report.splitlines()
    assert "elasticsearch.storage.size  1      20Gi        29.5Gi  too small" in lines
    assert lines[-1] == (
        "warning: elasticsearch.storage.size: 20Gi is smaller than the ~29.5Gi each data node needs "
        "for 2,000,000 events/day \N{MULTIPLICATION SIGN} 800 B for 14 days (see `make size`)"
    )


def test_report_checks_every_data_node_set_with_one_replica() -> None:
    # 3 data nodes in two sets, so 1 replica: 19.7Gi per node (see test_rows_show_...).
    config = stack(
        capacity=CAPACITY,
        nodeSets=[
            {"name": "master", "replicas": 1, "roles": ["master"]},
            {"name": "hot", "replicas": 2, "roles": ["data"], "storage": {"size": "20Gi"}},
            {"name": "more", "replicas": 1, "roles": ["data"], "storage": {"size": "19Gi"}},
        ],
    )
    lines = size.size_report(config).splitlines()
    assert "Copies of each shard        \N{MULTIPLICATION SIGN} 2 (1 replica)" in lines
    assert "elasticsearch.nodeSets[1].storage.size  2      20Gi        19.7Gi  enough" in lines
    assert "elasticsearch.nodeSets[2].storage.size  1      19Gi        19.7Gi  too small" in lines
    warnings = [line for line in lines if line.startswith("warning:")]
    assert warnings == [
        "warning: elasticsearch.nodeSets[2].storage.size: 19Gi is smaller than the ~19.7Gi each data node "
        "needs for 2,000,000 events/day \N{MULTIPLICATION SIGN} 800 B for 14 days (see `make size`)"
    ]
    assert [line.split(":")[0] for line in config.elasticsearch.capacity_shortfalls()] == [
        "elasticsearch.nodeSets[2].storage.size"
    ], "the warning in preview and render agrees with the report"


def test_report_columns_line_up() -> None:
    result = estimate(2_000_000, 800, 14, data_nodes=1, replicas=0)
    lines = size.size_report(stack(capacity=CAPACITY, storage={"size": "20Gi"})).splitlines()
    table = lines[: lines.index("")]
    assert len(table) == len(result.rows())
    starts = {
        line.index(value, len(label)) for line, (label, value) in zip(table, result.rows(), strict=True)
    }
    assert starts == {len("Disk for the whole cluster") + 2}


def test_cli_prints_the_report(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    section = json.dumps({"storage": {"size": "30Gi"}, "retention": {"maxAge": "14d"}, "capacity": CAPACITY})
    monkeypatch.setattr(
        size,
        "stack_config",
        lambda stack: {"elk-stack:namespace": "elk-qa", "elk-stack:elasticsearch": section},
    )
    assert size.main(["qa"]) == 0
    assert "elasticsearch.storage.size  1      30Gi        29.5Gi  enough" in capsys.readouterr().out


def test_cli_reports_an_invalid_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    section = json.dumps({"capacity": {"eventsPerDay": 0, "avgEventBytes": 800}})
    monkeypatch.setattr(
        size, "stack_config", lambda stack: {"elk-stack:namespace": "elk", "elk-stack:elasticsearch": section}
    )
    assert size.main(["qa"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: invalid elk-stack config")
    assert "elasticsearch.capacity.eventsPerDay" in err


def test_make_size_for_the_qa_stack() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools.size", "qa"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "elasticsearch.storage.size  1      20Gi        7.4Gi   enough" in result.stdout.splitlines()


def test_cli_without_the_stack_file_exits_1() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools.size", "nosuchstack"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: no stack file Pulumi.nosuchstack.yaml")
    assert result.stdout == ""


def test_cli_prints_the_breakdown_before_an_enforced_shortfall(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table shows how much is needed, which the error alone does not."""
    section = json.dumps(
        {
            "storage": {"size": "20Gi"},
            "retention": {"maxAge": "14d"},
            "capacity": {**CAPACITY, "enforce": True},
        }
    )
    monkeypatch.setattr(
        size, "stack_config", lambda stack: {"elk-stack:namespace": "elk", "elk-stack:elasticsearch": section}
    )
    assert size.main(["qa"]) == 1
    captured = capsys.readouterr()
    assert "elasticsearch.storage.size  1      20Gi        29.5Gi  too small" in captured.out.splitlines()
    assert captured.err.startswith(
        "error: invalid elk-stack config (1 problem):\n  - elasticsearch.storage.size: "
    )


def test_cli_prints_no_breakdown_when_the_config_is_invalid_otherwise(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    section = json.dumps(
        {"storage": {"size": "20Gi"}, "heap": "64g", "capacity": {**CAPACITY, "enforce": True}}
    )
    monkeypatch.setattr(
        size, "stack_config", lambda stack: {"elk-stack:namespace": "elk", "elk-stack:elasticsearch": section}
    )
    assert size.main(["qa"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "elasticsearch.heap" in captured.err


def test_cli_reports_an_unreadable_stack_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "Pulumi.x.yaml").write_bytes(b"# Kibana f\xfcr QA\nconfig:\n  elk-stack:namespace: elk\n")
    monkeypatch.setattr(size, "stack_config", lambda stack: stack_config(stack, tmp_path))
    assert size.main(["x"]) == 1
    assert capsys.readouterr().err == (
        "error: Pulumi.x.yaml, line 1: the file is not UTF-8 (byte 0xfc); save it as UTF-8\n"
    )
