"""The stack's configuration: parse, validate and default the `elk-stack:*` keys.

This is the only layer that knows what users typed. Everything below it receives complete,
validated models, so a component can trust that a heap fits its limit, a quantity parses
and a pipeline file exists. Every rule reports the key by the path a user would pass to
`pulumi config set --path`, and all problems are reported at once.

One module per section (`elasticsearch`, `logstash`, ...); `stack` holds the rules that
span sections and `loading` turns the engine's flat strings into a model or a ConfigError.
"""

from components.configuration.base import PROJECT, ConfigError, DnsLabel, JvmSize, LogstashBytes, Quantity
from components.configuration.elasticsearch import (
    Capacity,
    ElasticsearchConfig,
    ElasticsearchTls,
    NodeSet,
    ResolvedNodeSet,
    VolumeCheck,
)
from components.configuration.kibana import Ingress, KibanaConfig
from components.configuration.loading import load_config, mistyped_prefix_warnings, parse_config_values
from components.configuration.logstash import LogstashConfig, Queue
from components.configuration.network_policy import NetworkPeer, NetworkPolicyConfig
from components.configuration.retention import Retention
from components.configuration.security import Security
from components.configuration.snapshots import RestoreFrom, SnapshotRepository, SnapshotRetention, Snapshots
from components.configuration.stack import StackConfig
from components.configuration.workload import ResourceAmounts, Resources, Service, Storage

__all__ = [
    "PROJECT",
    "Capacity",
    "ConfigError",
    "DnsLabel",
    "ElasticsearchConfig",
    "ElasticsearchTls",
    "Ingress",
    "JvmSize",
    "KibanaConfig",
    "LogstashBytes",
    "LogstashConfig",
    "NetworkPeer",
    "NetworkPolicyConfig",
    "NodeSet",
    "Quantity",
    "Queue",
    "ResolvedNodeSet",
    "ResourceAmounts",
    "Resources",
    "RestoreFrom",
    "Retention",
    "Security",
    "Service",
    "SnapshotRepository",
    "SnapshotRetention",
    "Snapshots",
    "StackConfig",
    "Storage",
    "VolumeCheck",
    "load_config",
    "mistyped_prefix_warnings",
    "parse_config_values",
]
