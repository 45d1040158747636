"""The program's debug messages to the engine: the Pulumi SDK's own are dropped.

The Python SDK sends each `pulumi.log.debug` to the engine as a blocking call
(`engine.Log` in pulumi/log.py), several per resource, on the one event loop that also
registers every resource. While the engine is busy writing its state, each call waits
for it, and the next registration on a deploy's critical path waits behind them.
`make bench-deploy` run with and without ELK_STACK_SDK_DEBUG=1 shows what dropping them
saves. Only `pulumi up --debug` ever shows them; that variable keeps them
(docs/troubleshooting.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pulumi.log

KEEP_VARIABLE = "ELK_STACK_SDK_DEBUG"
SDK_DEBUG = pulumi.log.debug
"""The SDK's own `debug`, as this module found it."""


def drop_sdk_debug_messages(environ: Mapping[str, str] = os.environ) -> bool:
    """Make `pulumi.log.debug` send nothing, unless KEEP_VARIABLE is set; whether it did."""
    if environ.get(KEEP_VARIABLE, "") not in ("", "0", "false"):
        return False
    pulumi.log.debug = _dropped
    return True


def _dropped(
    msg: str, resource: Any = None, stream_id: int | None = None, ephemeral: bool | None = None
) -> None:
    """`pulumi.log.debug`'s signature, sending nothing."""
