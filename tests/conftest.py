"""Shared fixtures: run the real program under mocks, and render the stack files once.

Also the helpers most tests share: config as the engine passes it, a config's problems,
and the one manifest of a kind and name.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from components.configuration import ConfigError, StackConfig, load_config
from tests.fake_elasticsearch import FakeElasticsearch, serve
from tools.render import PROJECT_DIR, Rendered, run_program, stack_config

STACKS = ["qa", "test"]
Manifest = dict[str, Any]
# Hypothesis keeps its files under build/, which is ignored and cleaned, not in the project root.
set_hypothesis_home_dir(PROJECT_DIR / "build" / "hypothesis")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked slow first: a worker that starts one early is not the last to finish."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


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


def urn_key(urn: str) -> str:
    """`<type>::<name>` of a URN, its parents' types left out."""
    *_, kind, name = urn.split("::")
    return f"{kind.rsplit('$', 1)[-1]}::{name}"


def waited_for(rendered: Rendered, resource: dict[str, Any]) -> set[str]:
    """Every resource (`<type>::<name>`) that `resource` waits for, directly or through another."""
    by_key = {f"{r['type']}::{r['name']}": r for r in rendered.resources}
    seen: set[str] = set()
    pending = [urn_key(urn) for urn in resource["dependsOn"]]
    while pending:
        key = pending.pop()
        if key not in seen:
            seen.add(key)
            pending += [urn_key(urn) for urn in by_key[key]["dependsOn"]] if key in by_key else []
    return seen


def problems(**sections: Any) -> list[str]:
    """The problem lines for a config, or [] when it is valid."""
    raw = {k.removeprefix("elk-stack:"): v for k, v in flat_config(**sections).items()}
    try:
        load_config(raw, PROJECT_DIR)
    except ConfigError as error:
        return error.problems
    return []


def valid(**sections: Any) -> StackConfig:
    raw = {k.removeprefix("elk-stack:"): v for k, v in flat_config(**sections).items()}
    return load_config(raw, PROJECT_DIR)


@pytest.fixture(scope="session")
def rendered_stacks() -> dict[str, Rendered]:
    """The qa and test stacks, each rendered once per session from its stack file."""
    return {stack: run_program(stack_config(stack), stack=stack) for stack in STACKS}


# Stacks rendered from config rather than a stack file: the large benchmark cluster
# (`make bench`), security off, the user's own PKI (`tls.existingSecret`) and plain HTTP.
# Read when a test asks for one, not when the suite starts.
EXTRA_STACKS: dict[str, Callable[[], dict[str, str]]] = {
    "large": lambda: stack_config("large", path=PROJECT_DIR / "benchmarks" / "large.yaml"),
    "insecure": lambda: flat_config(security={"enabled": False}),
    "own-pki": lambda: flat_config(elasticsearch={"tls": {"existingSecret": "company-pki"}}),
    "http": lambda: flat_config(elasticsearch={"tls": {"http": False}}),
}
INVARIANT_STACKS = [*STACKS, *EXTRA_STACKS]


def stack_config_of(stack: str) -> dict[str, str]:
    """The flat config of any stack the invariants run on."""
    return EXTRA_STACKS[stack]() if stack in EXTRA_STACKS else stack_config(stack)


@pytest.fixture(scope="session")
def invariant_stacks(rendered_stacks: dict[str, Rendered]) -> dict[str, Rendered]:
    """qa and test (rendered once per session) and the extra stacks, each rendered once per session too."""
    extra = {stack: run_program(stack_config_of(stack), stack=stack) for stack in EXTRA_STACKS}
    return {**rendered_stacks, **extra}


# Renders of the unit config that many tests only read, made once per session (per worker).
SHARED_RENDERS: dict[str, Rendered] = {}


def shared_render(request: pytest.FixtureRequest, **sections: Any) -> Rendered:
    """The unit config with `sections`, rendered once per session; each test gets a copy of its own.

    For tests that read a render. One that patches the render (monkeypatch) would share
    what it patched, and one that checks a render's side effects needs one of its own:
    both call the `render` fixture.
    """
    assert "monkeypatch" not in request.fixturenames, "a patched render is not to be shared"
    key = json.dumps(sections, sort_keys=True)
    if key not in SHARED_RENDERS:
        SHARED_RENDERS[key] = run_program(flat_config(**sections), stack="unit", project_dir=PROJECT_DIR)
    return copy.deepcopy(SHARED_RENDERS[key])


@pytest.fixture
def rendered_default(request: pytest.FixtureRequest) -> Rendered:
    """The unit config (a namespace, nothing else), rendered once per session."""
    return shared_render(request)


@pytest.fixture
def rendered_example(request: pytest.FixtureRequest) -> Rendered:
    """The example cluster (three dedicated masters, two data nodes), rendered once per session."""
    from tests.clusters import EXAMPLE  # tests.clusters imports this module

    return shared_render(request, elasticsearch=EXAMPLE)


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


FORMATION = "pulumi-python:dynamic/elk-stack-lifecycle:ClusterFormation"


@pytest.fixture
def existing_cluster(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Renders as a later `pulumi up` sees them: the formation record hands back an earlier run's id.

    A test may set the `initial_masters` the earlier deploy recorded in the returned dict.
    """
    import tools.render as render_module

    original = render_module.EchoMocks.new_resource
    earlier = {"run": "an-earlier-run"}

    def stored(self: render_module.EchoMocks, args: Any) -> tuple[str | None, dict[Any, Any]]:
        resource_id, state = original(self, args)
        return resource_id, ({**state, **earlier} if args.typ == FORMATION else state)

    monkeypatch.setattr(render_module.EchoMocks, "new_resource", stored)
    return earlier
