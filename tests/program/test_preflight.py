"""`make up` refuses to take over objects another stack made; claims stay adoptable.

The refusal on a live namespace comes from the real control plane (tests/e2e/test_faults.py).
"""

from __future__ import annotations

from typing import Any

from tools.preflight import foreign_objects


def obj(kind: str, name: str) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name}}


RENDERED = [
    obj("Secret", "elk-ca"),
    obj("StatefulSet", "elk-elasticsearch"),
    obj("PersistentVolumeClaim", "data-0"),
]


def test_an_object_of_the_render_that_exists_outside_the_state_is_foreign() -> None:
    live = [obj("Secret", "elk-ca"), obj("StatefulSet", "elk-elasticsearch"), obj("Secret", "unrelated")]
    held = {("StatefulSet", "elk-elasticsearch")}
    assert foreign_objects(live, RENDERED, held) == ["Secret elk-ca"]


def test_claims_are_adopted_not_foreign() -> None:
    assert foreign_objects([obj("PersistentVolumeClaim", "data-0")], RENDERED, set()) == []


def test_a_fresh_namespace_has_nothing_foreign() -> None:
    assert foreign_objects([], RENDERED, set()) == []
