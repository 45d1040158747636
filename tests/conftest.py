"""Shared fixtures: run the real program under mocks, and render the stack files once."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_elasticsearch import FakeElasticsearch, serve
from tools.render import PROJECT_DIR, Rendered, run_program, stack_config

STACKS = ["qa", "test"]
Manifest = dict[str, Any]


def flat_config(**sections: Any) -> dict[str, str]:
    """Build flat `elk-stack:*` config the way the engine passes it (objects JSON-encoded)."""
    config = {"namespace": "elk-unit", **sections}
    return {
        f"elk-stack:{key}": value if isinstance(value, str) else json.dumps(value)
        for key, value in config.items()
    }


def find(manifests: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    """The single manifest of a kind (and name); fails the test when it is not exactly one."""
    matches = [m for m in manifests if m["kind"] == kind and name in (None, m["metadata"]["name"])]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


@pytest.fixture(scope="session")
def rendered_stacks() -> dict[str, Rendered]:
    """The qa and test stacks, each rendered once per session from its stack file."""
    return {stack: run_program(stack_config(stack), stack=stack) for stack in STACKS}


@pytest.fixture
def render() -> Callable[..., Rendered]:
    """Run `__main__.py` under mocks with a config given as keyword sections."""

    def run(**sections: Any) -> Rendered:
        return run_program(flat_config(**sections), stack="unit", project_dir=PROJECT_DIR)

    return run


@pytest.fixture
def project_dir() -> Path:
    return PROJECT_DIR


@pytest.fixture
def fake_es() -> Iterator[FakeElasticsearch]:
    """A fake Elasticsearch answering on a local port for the length of one test."""
    state = FakeElasticsearch()
    server = serve(state)
    yield state
    server.shutdown()
    server.server_close()
