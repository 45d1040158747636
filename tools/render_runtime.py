"""The render's engine: `__main__.py` run in this process under Pulumi mocks, and what it produced.

`_run` gives the program an event loop and a mock monitor of its own (`_RecordingMonitor`,
which also records each registration's resource options, since those never reach
`Mocks.new_resource`), collects its warnings and notes, and turns the mocks' state into
plain manifests, with Pulumi secrets unwrapped or redacted. `tools.render.run_program`
is the way in.
"""

from __future__ import annotations

import asyncio
import logging
import runpy
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pulumi
from pulumi.dynamic.dynamic import PROVIDER_KEY
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor, Mocks
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.settings import get_root_resource, set_root_resource
from pulumi.runtime.stack import run_pulumi_func

PROJECT = "elk-stack"
REDACTED = "<redacted: render with --show-secrets to see it>"


@dataclass
class Rendered:
    """What one run of the program produced."""

    manifests: list[dict[str, Any]] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """The program's `pulumi.log.info` messages: the plan's explanations, not problems."""


class _Collector(logging.Handler):
    """Keeps the program's `pulumi.log.warn` and `info` messages, which `pulumi preview` would show."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []
        self.notes: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        kept = self.messages if record.levelno >= logging.WARNING else self.notes
        kept.append(record.getMessage())


def _plain(value: Any, show_secrets: bool) -> Any:
    """Unwrap Pulumi secrets, and turn whole floats (from protobuf) back into ints."""
    if isinstance(value, dict):
        if rpc._special_sig_key in value:
            return _plain(value["value"], show_secrets) if show_secrets else REDACTED
        return {k: _plain(v, show_secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, show_secrets) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _redact_secret(manifest: dict[str, Any]) -> dict[str, Any]:
    """A Secret with every value replaced: the mocks do not know which outputs are secret."""
    redacted = dict(manifest)
    for field_name in ("data", "stringData"):
        if field_name in redacted:
            redacted[field_name] = dict.fromkeys(redacted[field_name], REDACTED)
    return redacted


def _parent_ref(urn: str) -> str | None:
    """`type::name` of a resource from its URN; mock URNs are not the engine's, so keep it short."""
    if not urn:
        return None
    parts = urn.split("::")
    return f"{parts[2].split('$')[-1]}::{parts[3]}"


class _RecordingMonitor(MockMonitor):
    """A mock monitor that also records each registration's resource options."""

    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self.lock = threading.Lock()
        self.registrations: list[dict[str, Any]] = []

    @staticmethod
    def _timeouts(request: Any) -> dict[str, str] | None:
        """The custom create/update/delete timeouts that are set, or None for the provider's."""
        timeouts = request.customTimeouts
        values = {op: getattr(timeouts, op) for op in ("create", "update", "delete")}
        return {op: value for op, value in values.items() if value} or None

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method name
        if request.type != "pulumi:pulumi:Stack":
            entry = {
                "type": request.type,
                "name": request.name,
                "parent": _parent_ref(request.parent),
                "custom": request.custom,
                "protect": request.protect if request.HasField("protect") else None,
                "retainOnDelete": request.retainOnDelete if request.HasField("retainOnDelete") else None,
                "ignoreChanges": sorted(request.ignoreChanges),
                "replaceOnChanges": sorted(request.replaceOnChanges),
                "dependsOn": sorted(filter(None, map(_parent_ref, request.dependencies))),
                # Which inputs hold another resource's outputs: a replaced resource takes the
                # resources whose inputs hold its outputs with it (tests/invariants.py).
                "propertyDependencies": {
                    key: sorted(filter(None, map(_parent_ref, deps.urns)))
                    for key, deps in sorted(request.propertyDependencies.items())
                    if deps.urns
                },
                "deleteBeforeReplace": (
                    request.deleteBeforeReplace if request.deleteBeforeReplaceDefined else None
                ),
                "customTimeouts": self._timeouts(request),
                "additionalSecretOutputs": sorted(request.additionalSecretOutputs),
                "deletedWith": _parent_ref(request.deletedWith),
            }
            if request.custom and not request.type.startswith("kubernetes:"):
                # Generated passwords and certificates: their settings (lengths, validity,
                # renewal windows) are only visible here. Secret inputs stay redacted; the
                # pickled dynamic provider says nothing about the resource.
                inputs = rpc.deserialize_properties(request.object)
                inputs.pop(PROVIDER_KEY, None)
                entry["inputs"] = _plain(inputs, show_secrets=False)
            with self.lock:
                self.registrations.append(entry)
        return super().RegisterResource(request)  # type: ignore[no-untyped-call]


async def _stack_outputs() -> dict[str, Any]:
    """Resolve `pulumi.export`ed values; secret ones stay wrapped so they can be redacted.

    Under mocks the root Stack registers its outputs before the program runs, so the
    exports are read from the Stack object itself.
    """
    exports: dict[str, Any] = getattr(get_root_resource(), "outputs", {})
    outputs: dict[str, Any] = {}
    for name, value in exports.items():
        output = pulumi.Output.from_input(value)
        resolved = await output.future()
        outputs[name] = (
            {rpc._special_sig_key: rpc._special_secret_sig, "value": resolved}
            if await output.is_secret()
            else resolved
        )
    return outputs


_T = TypeVar("_T")


def _call_with_own_loop(fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """Run `fn` with an event loop of its own, closed in this same thread when `fn` returns."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return fn(*args, **kwargs)
    finally:
        asyncio.set_event_loop(None)
        loop.close()


class _LoopClosingExecutor(ThreadPoolExecutor):
    """The render loop's default executor, where the SDK runs the mock monitor's calls.

    Those calls need an event loop in their thread, and the SDK's `_ensure_event_loop`
    gives each worker thread one that nobody closes. When the thread ends, that loop is
    cyclic garbage (loop -> selector -> self-pipe reader -> loop) together with its
    self-pipe sockets. If the collector finalizes a socket first, the loop's `__del__`
    finds fd -1 and prints "Exception ignored in: BaseEventLoop.__del__ ... Invalid file
    descriptor: -1", now and then, as the order of collection varies. Joining the threads
    only moves that moment. Here each call brings its own loop and closes it in its own
    thread when it returns, so no unclosed loop is left to collect.
    """

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        return super().submit(_call_with_own_loop, fn, *args, **kwargs)


def _no_stack_trace() -> source_pb2.StackTrace:
    """No source position for a registration: the mocks never read one.

    The SDK (3.272) extracts the whole Python stack, source lines included, for every
    resource it registers, to tell the engine where the resource was declared. Under mocks
    nothing reads it, and it is most of the SDK's own cost per resource in a render.
    """
    return source_pb2.StackTrace()


def _run(config: dict[str, str], stack: str, program: Path, show_secrets: bool, mocks: Mocks) -> Rendered:
    loop = asyncio.new_event_loop()
    loop.set_default_executor(_LoopClosingExecutor())
    asyncio.set_event_loop(loop)
    stack_trace = sdk_resource._get_stack_trace
    sdk_resource._get_stack_trace = _no_stack_trace
    try:
        set_root_resource(None)  # type: ignore[arg-type]  # the SDK's own reset value
        pulumi.runtime.set_all_config(config)
        monitor = _RecordingMonitor(mocks)
        collector = _Collector()
        # At INFO, like the collector: the SDK's debug lines (several per resource) are not
        # even made into records.
        logger = logging.Logger(f"{PROJECT}.render", logging.INFO)
        logger.addHandler(collector)
        pulumi.runtime.set_mocks(
            monitor.mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor, logger=logger
        )

        def program_run() -> None:
            runpy.run_path(str(program), run_name="__main__")

        loop.run_until_complete(run_pulumi_func(program_run))
        outputs = loop.run_until_complete(_stack_outputs())
    finally:
        sdk_resource._get_stack_trace = stack_trace
        set_root_resource(None)  # type: ignore[arg-type]
        # Join the worker threads, so that none outlives the render.
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
        asyncio.set_event_loop(None)
    rendered = Rendered(
        outputs=_plain(outputs, show_secrets), warnings=collector.messages, notes=collector.notes
    )
    for urn, registration in sorted(monitor.resources.items()):
        kind_type = urn.split("::")[2].split("$")[-1]
        if kind_type.startswith("kubernetes:"):
            is_secret = registration.state.get("kind") == "Secret"
            # A Secret's keys are shown even when its (wrapped) values are not.
            manifest = _plain(registration.state, show_secrets or is_secret)
            if is_secret and not show_secrets:
                manifest = _redact_secret(manifest)
            rendered.manifests.append(manifest)
    rendered.resources = sorted(monitor.registrations, key=lambda r: (r["type"], r["name"]))
    return rendered
