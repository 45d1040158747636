"""What a script Job needs beside itself: the script's ConfigMap and its own ServiceAccount.

The setup Job and the snapshot Job before a change run the same script the same way
(components/specs/clients.py builds their pods).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.core.v1 import ConfigMap, ServiceAccount

from components.resources import objects
from components.specs import common


@dataclass(frozen=True)
class ScriptObjects:
    """What a script Job needs beside itself: the script's ConfigMap and its ServiceAccount."""

    files: dict[str, str]
    config_map: ConfigMap
    account: ServiceAccount


def script_objects(
    parent: pulumi.Resource,
    name: str,
    names: common.Names,
    labels: dict[str, str],
    target: common.Target,
    files: dict[str, str],
) -> ScriptObjects:
    """The ConfigMap holding the Job's scripts (`files`) and the Job's own ServiceAccount."""
    config_map = ConfigMap(
        f"{name}-script",
        metadata=common.metadata(names.config, target.namespace, labels),
        data=files,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    account = objects.service_account(parent, f"{name}-account", names.workload, target.namespace, labels)
    return ScriptObjects(files, config_map, account)
