"""What the fake Elasticsearch holds, and how its snapshot, restore and settings APIs answer."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeElasticsearch:
    """Records every request and answers like a cluster that upserts users and roles."""

    calls: list[tuple[str, str, str, Any]] = field(default_factory=list)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    roles: dict[str, Any] = field(default_factory=dict)
    policies: dict[str, Any] = field(default_factory=dict)
    templates: dict[str, Any] = field(default_factory=dict)
    # A cluster of 8.13 or later installs these itself; `logs@custom` is left to the user.
    component_templates: dict[str, Any] = field(
        default_factory=lambda: {name: {} for name in ("logs@mappings", "logs@settings", "ecs@mappings")}
    )
    index_settings: dict[str, Any] = field(default_factory=dict)
    repositories: dict[str, Any] = field(default_factory=dict)
    slm_policies: dict[str, Any] = field(default_factory=dict)
    verify_failure: str | None = None
    # `_cat/nodes?h=name,version` lines, and the states a new snapshot reports, one per GET.
    nodes: list[str] = field(default_factory=lambda: ["elk-elasticsearch-0 9.4.3"])
    snapshot_states: list[str] = field(default_factory=lambda: ["SUCCESS"])
    snapshots: dict[str, Any] = field(default_factory=dict)
    # What a restore needs: the persistent cluster settings (flat), the regular data streams
    # and indices the cluster holds, the restores asked for, and how many shards one fails.
    cluster_settings: dict[str, Any] = field(default_factory=dict)
    data_streams: list[str] = field(default_factory=list)
    indices: list[str] = field(default_factory=list)
    restores: list[tuple[str, Any]] = field(default_factory=list)
    failed_shards: int = 0
    unhealthy_answers: int = 0
    health_delay: float = 0
    refuse: str = "-"
    refusal_status: int = 401
    refusal_reason: str = "action [cluster:admin/xpack/security/role/put] is unauthorized"
    # When set, the Authorization headers the cluster lets in; any other gets a 401.
    accepts: set[str] | None = None
    url: str = ""


def managed_by(entries: dict[str, Any]) -> dict[str, Any]:
    """What Elasticsearch answers with `filter_path=*.metadata.managed_by`: only entries that have one."""
    return {
        name: {"metadata": {"managed_by": entry["metadata"]["managed_by"]}}
        for name, entry in entries.items()
        if "managed_by" in entry.get("metadata", {})
    }


def es_error(status: int, kind: str, reason: str) -> tuple[int, dict[str, Any]]:
    """An error answer shaped as Elasticsearch's."""
    return status, {"error": {"type": kind, "reason": reason}, "status": status}


def snapshot_object(
    state: FakeElasticsearch, method: str, repository: str, name: str, body: Any, query: str = ""
) -> tuple[int, Any]:
    """One snapshot: PUT starts it (takes it, with wait_for_completion); each GET reports the next state."""
    if repository not in state.repositories:
        return es_error(404, "repository_missing_exception", f"[{repository}] missing")
    if method == "PUT":
        if name in state.snapshots:
            return es_error(400, "invalid_snapshot_name_exception", f"[{repository}:{name}] already exists")
        if "wait_for_completion=true" in query:
            state.snapshots[name] = {"request": body, "state": "SUCCESS"}
            return 200, {"snapshot": {"snapshot": name, "state": "SUCCESS"}}
        state.snapshots[name] = {"request": body, "state": "IN_PROGRESS"}
        return 200, {"accepted": True}
    if name not in state.snapshots:
        return es_error(404, "snapshot_missing_exception", f"[{repository}:{name}] is missing")
    snapshot = state.snapshots[name]
    if state.snapshot_states:
        snapshot["state"] = state.snapshot_states.pop(0)
    features = [{"feature_name": feature} for feature in snapshot.get("feature_states", [])]
    return 200, {
        "snapshots": [
            {"snapshot": name, "state": snapshot["state"], "failures": [], "feature_states": features}
        ]
    }


def add_snapshot(
    state: FakeElasticsearch,
    name: str,
    snapshot_state: str,
    data_streams: list[str],
    feature_states: tuple[str, ...] = (),
) -> None:
    """A snapshot in the repository, taken after those already there, holding `feature_states`."""
    state.snapshots[name] = {
        "state": snapshot_state,
        "data_streams": data_streams,
        "feature_states": list(feature_states),
    }


def list_snapshots(state: FakeElasticsearch, query: str) -> tuple[int, Any]:
    """`GET _snapshot/<repository>/_all`: oldest first unless asked for `order=desc`."""
    names = list(state.snapshots)
    if "sort=start_time" in query and "order=desc" in query:
        names.reverse()
    return 200, {"snapshots": [{"snapshot": name, "state": state.snapshots[name]["state"]} for name in names]}


def selected(names: list[str], patterns: str | None) -> list[str]:
    """Elastic's multi-target syntax: patterns in order, a leading `-` excludes."""
    if patterns is None:
        return list(names)
    chosen: list[str] = []
    for pattern in patterns.split(","):
        if pattern.startswith("-"):
            chosen = [name for name in chosen if not fnmatch.fnmatch(name, pattern[1:])]
        else:
            chosen += [name for name in names if fnmatch.fnmatch(name, pattern) and name not in chosen]
    return chosen


def restore(state: FakeElasticsearch, name: str, query: str, body: Any) -> tuple[int, Any]:
    """`POST _snapshot/<repository>/<snapshot>/_restore?wait_for_completion=true`."""
    if name not in state.snapshots:  # a real 9.4.3 node's answer (tests/real)
        return es_error(500, "snapshot_restore_exception", f"[elk-stack:{name}] snapshot does not exist")
    state.restores.append((name, body))
    held = state.snapshots[name].get("feature_states", [])
    missing = [f for f in body.get("feature_states", []) if f != "none" and f not in held]
    if missing:  # RestoreService, as a real 9.4.3 node answers it (tests/real)
        return es_error(
            500,
            "snapshot_restore_exception",
            f"[default:elk-stack:{name}/uuid] requested feature states [[{', '.join(missing)}]] are not "
            "present in snapshot",
        )
    streams = selected(state.snapshots[name].get("data_streams", []), body.get("indices"))
    taken = [stream for stream in streams if stream in state.data_streams]
    if taken:
        return es_error(
            500, "snapshot_restore_exception", f"[elk-stack:{name}] data stream {taken[0]} already exists"
        )
    state.data_streams += streams
    total = len(streams)
    shards = {"total": total, "failed": state.failed_shards, "successful": total - state.failed_shards}
    if "wait_for_completion=true" not in query:
        return 200, {"accepted": True}
    indices = [f".ds-{stream}-000001" for stream in streams]
    return 200, {"snapshot": {"snapshot": name, "indices": indices, "shards": shards}}


def cluster_settings(state: FakeElasticsearch, method: str, query: str, body: Any) -> tuple[int, Any]:
    """`PUT` and `GET` of persistent settings: kept flat, answered nested unless `flat_settings=true`.

    `filter_path=persistent.<dotted key>` leaves only that setting, or `{}` without it.
    """
    if method == "PUT":
        state.cluster_settings.update(body.get("persistent", {}))
        return 200, {"acknowledged": True, "persistent": body.get("persistent", {}), "transient": {}}
    wanted = query.split("filter_path=persistent.", 1)[1].split("&")[0] if "filter_path=" in query else None
    persistent: dict[str, Any] = {}
    for key, value in state.cluster_settings.items():
        if wanted not in (None, key):
            continue
        if "flat_settings=true" in query:
            persistent[key] = value
            continue
        *parents, leaf = key.split(".")
        level = persistent
        for parent in parents:
            level = level.setdefault(parent, {})
        level[leaf] = value
    return 200, {"persistent": persistent} if persistent else {}


def resolve_all(state: FakeElasticsearch) -> tuple[int, Any]:
    """`GET _resolve/index/*?expand_wildcards=open,closed`: the regular indices and data streams."""
    return 200, {
        "indices": [{"name": name, "attributes": ["open"]} for name in state.indices],
        "aliases": [],
        "data_streams": [
            {"name": name, "backing_indices": [f".ds-{name}-000001"], "timestamp_field": "@timestamp"}
            for name in state.data_streams
        ],
    }


def snapshot_call(state: FakeElasticsearch, method: str, full_path: str, body: Any) -> tuple[int, Any]:
    """The snapshot repository and SLM APIs, with the refusals Elasticsearch answers."""
    path, _, query = full_path.partition("?")
    parts = path.strip("/").split("/")
    if parts[0] == "_snapshot" and len(parts) == 3 and parts[2] == "_all":
        return list_snapshots(state, query)
    if parts[0] == "_snapshot" and len(parts) == 4 and parts[3] == "_restore":
        return restore(state, parts[2], query, body)
    if parts[0] == "_snapshot" and len(parts) == 3 and parts[2] != "_verify":
        return snapshot_object(state, method, parts[1], parts[2], body, query)
    store = state.repositories if parts[0] == "_snapshot" else state.slm_policies
    name = parts[1] if parts[0] == "_snapshot" else parts[2]
    missing = (
        es_error(404, "repository_missing_exception", f"[{name}] missing")
        if parts[0] == "_snapshot"
        else es_error(
            404, "resource_not_found_exception", f"snapshot lifecycle policy or policies [{name}] not found"
        )
    )
    if parts[-1] == "_verify":
        if name not in store:
            return missing
        if state.verify_failure:
            return es_error(500, "repository_verification_exception", f"[{name}] {state.verify_failure}")
        return 200, {"nodes": {"node-id": {"name": "elk-elasticsearch-0"}}}
    if method == "PUT":
        if parts[0] == "_slm" and body.get("repository") not in state.repositories:
            return es_error(
                400, "illegal_argument_exception", f"no such repository [{body.get('repository')}]"
            )
        store[name] = body
        return 200, {"acknowledged": True}
    if name not in store:
        return missing
    if method == "DELETE":
        del store[name]
        return 200, {"acknowledged": True}
    return 200, {name: store[name]}
