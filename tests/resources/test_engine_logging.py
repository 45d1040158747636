"""The SDK's debug messages stay off the engine's line, unless asked for; warnings still reach it."""

from __future__ import annotations

from typing import Any

import pulumi.log
import pytest

from components.resources.engine_logging import KEEP_VARIABLE, SDK_DEBUG, drop_sdk_debug_messages


class RecordingEngine:
    """Stands in for the engine's gRPC stub: keeps each Log request's severity and message."""

    def __init__(self) -> None:
        self.logged: list[tuple[int, str]] = []

    def Log(self, request: Any) -> None:  # noqa: N802 (the stub's method name)
        self.logged.append((request.severity, request.message))


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> RecordingEngine:
    """An engine for pulumi.log to talk to, and the SDK's own `debug` (a render of the program
    in this process dropped it); whatever was there before is put back after the test."""
    recording = RecordingEngine()
    monkeypatch.setattr(pulumi.log, "get_engine", lambda: recording)
    monkeypatch.setattr(pulumi.log, "debug", SDK_DEBUG)
    return recording


def messages(engine: RecordingEngine) -> list[str]:
    return [message for _, message in engine.logged]


def test_debug_messages_no_longer_reach_the_engine_but_warnings_do(engine: RecordingEngine) -> None:
    pulumi.log.debug("before")
    assert drop_sdk_debug_messages({}) is True
    pulumi.log.debug("registering resource", None, 0, None)
    pulumi.log.warn("a warning")
    assert messages(engine) == ["before", "a warning"]


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_the_variable_keeps_them_even_after_an_earlier_run_dropped_them(
    engine: RecordingEngine, value: str
) -> None:
    drop_sdk_debug_messages({})
    assert drop_sdk_debug_messages({KEEP_VARIABLE: value}) is False
    pulumi.log.debug("kept")
    assert messages(engine) == ["kept"]


def test_a_debug_call_with_arguments_the_sdk_may_add_later_still_sends_nothing(
    engine: RecordingEngine,
) -> None:
    drop_sdk_debug_messages({})
    debug: Any = pulumi.log.debug  # as a later SDK's own call would be typed
    debug("message", None, stream_id=1, ephemeral=True, some_new_option=2)
    assert messages(engine) == []


@pytest.mark.parametrize("value", ["", "0", "false", "False", "off", " no "])
def test_an_empty_or_false_variable_drops_them(engine: RecordingEngine, value: str) -> None:
    assert drop_sdk_debug_messages({KEEP_VARIABLE: value}) is True
    pulumi.log.debug("dropped")
    assert messages(engine) == []
