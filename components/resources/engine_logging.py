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

import pulumi.log

KEEP_VARIABLE = "ELK_STACK_SDK_DEBUG"
OFF_VALUES = ("", "0", "false", "no", "off")
SDK_DEBUG = pulumi.log.debug
"""The SDK's own `debug`, kept to be put back: a render runs the program in-process, and
a later run in that process may ask for the messages."""


def drop_sdk_debug_messages(environ: Mapping[str, str] = os.environ) -> bool:
    """Make `pulumi.log.debug` send nothing, unless KEEP_VARIABLE is on; whether it does now."""
    drop = environ.get(KEEP_VARIABLE, "").strip().lower() in OFF_VALUES
    pulumi.log.debug = _dropped if drop else SDK_DEBUG
    return drop


def _dropped(*_args: object, **_kwargs: object) -> None:
    """Sends nothing; takes any arguments, so a new parameter of `debug` in the SDK breaks nothing."""
