"""Estimate the disk each Elasticsearch data node needs for a given log volume.

Users know how many log events they produce and how long they keep them; they do not know
how much disk that takes once indexed, replicated and kept clear of the disk watermarks.
The estimate follows the formula in Elastic's "Benchmarking and sizing your Elasticsearch
cluster for logs and metrics" (https://www.elastic.co/blog/benchmarking-and-sizing-your-elasticsearch-cluster-for-logs-and-metrics):

    total data    = raw bytes per day x retention days x (replicas + 1) x indexing factor
    total storage = total data, plus headroom to stay under the disk watermarks

Where each factor comes from:

- **Indexing overhead, 1.2.** The blog's "Indexing/Compression Factor", which it gives as
  1.2, the average it observed across deployments: index size without replicas divided by
  raw volume. Elastic's earlier storage tests measured 0.732 (index size on disk / raw log
  size) for logs used for both search and visualisation on Elasticsearch 2.0, in "Part 2.0:
  The true story behind Elasticsearch storage requirements"
  (https://www.elastic.co/blog/elasticsearch-storage-the-true-story-2.0); the ratio depends
  on the mapping, so the higher, fleet-wide figure is the safe default. To measure your
  own, index a day of logs and divide the primary store size by the raw bytes.
- **(1 + replicas).** Every replica is a full copy of its primary (same blog). A replica is
  never allocated on its primary's node, so one data node means 0 replicas, more mean 1.
- **Usable share of the disk, 0.85.** Disk-based shard allocation stops placing shards on
  a node above the low watermark (85%), moves them away above the high watermark (90%), and
  makes indices read-only at the flood stage (95%)
  (https://www.elastic.co/guide/en/elasticsearch/reference/7.6/disk-allocator.html). Above
  the high watermark even a rollover's new primary cannot be allocated. The blog budgets
  "15% to stay under the disk watermarks", i.e. it keeps the data below the low watermark;
  we do the same, which leaves the 5 points up to the high watermark for segment merges
  (which briefly need extra space) and for the backing index that ILM has not deleted yet.
  We divide by 0.85 rather than multiply by 1.15 as the blog does: 1.15 x data on a disk
  would fill it to 87%, past the low watermark.

The blog's further 5-10% margin of error is not added: the inputs are the user's own
estimate, and `make size` shows every factor so the user can judge the margin.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

INDEXING_OVERHEAD = 1.2
USABLE_SHARE = 0.85
_BINARY_UNITS = ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
TIMES = "\N{MULTIPLICATION SIGN}"


def _exact(value: float) -> Fraction:
    """The decimal a factor was written as (1.2 is 6/5), so rounding up never adds a byte."""
    return Fraction(str(value))


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


@dataclass(frozen=True)
class CapacityEstimate:
    """The inputs, factors and results of one estimate; `total_bytes` includes the headroom."""

    events_per_day: int
    avg_event_bytes: int
    retention_days: int
    replicas: int
    data_nodes: int
    indexing_overhead: float
    usable_share: float
    raw_bytes_per_day: int
    total_bytes: int
    per_node_bytes: int

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) rows for a table: the inputs, each factor, then the results."""
        copies = f"{TIMES} {1 + self.replicas} ({self.replicas} replica{'' if self.replicas == 1 else 's'})"
        return [
            ("Events per day", f"{self.events_per_day:,}"),
            ("Average event size", f"{self.avg_event_bytes:,} B"),
            ("Retention", f"{self.retention_days} day{'' if self.retention_days == 1 else 's'}"),
            ("Data nodes", str(self.data_nodes)),
            ("Raw data per day", format_bytes(self.raw_bytes_per_day)),
            ("Indexing overhead", f"{TIMES} {self.indexing_overhead:g}"),
            ("Copies of each shard", copies),
            ("Usable share of each disk", f"{self.usable_share:.0%} (below the disk watermarks)"),
            ("Disk for the whole cluster", format_bytes(self.total_bytes)),
            ("Disk for each data node", format_bytes(self.per_node_bytes)),
        ]


def replicas_for(data_nodes: int) -> int:
    """Replica shards per primary: one where another data node can hold it, else none.

    A replica never shares a node with its primary, so on one data node it would stay
    unassigned and keep the cluster yellow.
    """
    return 0 if data_nodes <= 1 else 1


def estimate(
    events_per_day: int, avg_event_bytes: int, retention_days: int, data_nodes: int, replicas: int
) -> CapacityEstimate:
    """Disk for `retention_days` of logs, with replicas and watermark headroom, per data node."""
    for name, value in (
        ("events_per_day", events_per_day),
        ("avg_event_bytes", avg_event_bytes),
        ("retention_days", retention_days),
        ("data_nodes", data_nodes),
    ):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, not {value}")
    if not 0 <= replicas < data_nodes:
        raise ValueError(
            f"{replicas} replicas cannot be allocated on {data_nodes} data node(s): "
            "a replica never shares a node with its primary"
        )
    raw_bytes_per_day = events_per_day * avg_event_bytes
    needed = (
        raw_bytes_per_day * _exact(INDEXING_OVERHEAD) * (1 + replicas) * retention_days / _exact(USABLE_SHARE)
    )
    total_bytes = _ceil_div(needed.numerator, needed.denominator)
    return CapacityEstimate(
        events_per_day=events_per_day,
        avg_event_bytes=avg_event_bytes,
        retention_days=retention_days,
        replicas=replicas,
        data_nodes=data_nodes,
        indexing_overhead=INDEXING_OVERHEAD,
        usable_share=USABLE_SHARE,
        raw_bytes_per_day=raw_bytes_per_day,
        total_bytes=total_bytes,
        per_node_bytes=_ceil_div(total_bytes, data_nodes),
    )


def format_bytes(n: int) -> str:
    """Bytes as a Kubernetes quantity with a binary suffix, e.g. `37.2Gi`.

    Rounded up to one decimal, so a size copied from the output is always enough.
    """
    if n < 0:
        raise ValueError(f"a size cannot be negative: {n}")
    if n < 1024:
        return str(n)
    power = 1
    while power < len(_BINARY_UNITS) and n >= 1024 ** (power + 1):
        power += 1
    tenths = _ceil_div(n * 10, 1024**power)
    if tenths >= 10240 and power < len(_BINARY_UNITS):  # 1023.95Mi rounds up to 1Gi
        power += 1
        tenths = _ceil_div(n * 10, 1024**power)
    whole, tenth = divmod(tenths, 10)
    number = str(whole) if tenth == 0 else f"{whole}.{tenth}"
    return f"{number}{_BINARY_UNITS[power - 1]}"


def shortfall_message(
    path: str, configured_bytes: int, estimate: CapacityEstimate, configured_text: str
) -> str:
    """One line for a volume smaller than the estimate, naming its key and both sizes."""
    configured = configured_text or format_bytes(configured_bytes)
    return (
        f"{path}: {configured} is smaller than the ~{format_bytes(estimate.per_node_bytes)} each data node "
        f"needs for {estimate.events_per_day:,} events/day {TIMES} {estimate.avg_event_bytes:,} B "
        f"for {estimate.retention_days} day{'' if estimate.retention_days == 1 else 's'} (see `make size`)"
    )
