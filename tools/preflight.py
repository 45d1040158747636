"""`make up`'s checks before it deploys: the stack must fit the namespace and not take over another's objects.

Each reads the namespace as its user (`kubectl`, tools/kubectl.py) and the stack as the
offline render sees it, and each problem is one line naming what to change. Nothing is
refused when the stack file does not render (`pulumi up` reports that in its own words)
or when the namespace cannot be read (a note says so, and the deploy goes on).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pulumi

from tools.kubectl import kubectl_json
from tools.limits import limit_range_problems
from tools.quota import PLURALS, live_usage, our_objects, shortfalls, stack_needs
from tools.render import StackFileError, run_program, stack_config
from tools.stack_command import exported_state

Manifest = dict[str, Any]
# Claims outlive a stack by design and are adopted by the next one (docs/operations.md).
ADOPTABLE = {"PersistentVolumeClaim", "Namespace"}


def live_objects(namespace: str, manifests: list[Manifest]) -> list[Manifest] | str:
    """The namespace's objects of every kind the stack makes, and its pods: read once for both checks."""
    kinds = sorted({PLURALS[m["kind"]] for m in manifests if m["kind"] in PLURALS} | {"pods"})
    live = kubectl_json(namespace, ",".join(kinds))
    return live if isinstance(live, str) else list(live.get("items") or [])


def quota_lines(namespace: str, manifests: list[Manifest], live: list[Manifest]) -> list[str]:
    """One line per quota resource the rendered stack would exceed in the namespace."""
    quotas = kubectl_json(namespace, "resourcequotas")
    if isinstance(quotas, str):
        print(f"make up: the namespace's quotas were not checked: {quotas}", file=sys.stderr)
        return []
    ours = live_usage(our_objects(live, manifests))
    return [
        shortfall.describe()
        for shortfall in shortfalls(quotas.get("items") or [], stack_needs(manifests), ours)
    ]


def limit_range_lines(namespace: str, manifests: list[Manifest]) -> list[str]:
    """One line per container, pod or claim the namespace's LimitRanges would refuse."""
    limit_ranges = kubectl_json(namespace, "limitranges")
    if isinstance(limit_ranges, str):
        print(f"make up: the namespace's LimitRanges were not checked: {limit_ranges}", file=sys.stderr)
        return []
    return limit_range_problems(limit_ranges.get("items") or [], manifests)


def state_objects(stack: str, project_dir: Path) -> set[tuple[str, str]]:
    """(kind, name) of every Kubernetes object the stack's state holds, done or pending.

    An `up` killed while creating an object leaves it as a pending operation: the object is
    this stack's even though no step finished. A stack not created yet holds nothing.
    """
    state = exported_state(stack, project_dir)
    if isinstance(state, str):
        return set()
    deployment = state.get("deployment") or {}
    resources = list(deployment.get("resources") or [])
    resources += [operation.get("resource") or {} for operation in deployment.get("pending_operations") or []]
    held = set()
    for resource in resources:
        if str(resource.get("type", "")).startswith("kubernetes:"):
            name = ((resource.get("outputs") or resource.get("inputs") or {}).get("metadata") or {}).get(
                "name"
            )
            held.add((str(resource["type"]).rsplit(":", 1)[-1], str(name)))
    return held


def foreign_objects(live: list[Manifest], manifests: list[Manifest], held: set[tuple[str, str]]) -> list[str]:
    """`<Kind> <name>` of each object the stack would create that exists but is not the stack's.

    Every apply is forced (components/specs/common.py), so `up` would take such an object
    over without a word: it is another stack's in the same namespace, or made by hand.
    Claims are left out: the next stack adopts them by design.
    """
    rendered = {(m["kind"], m["metadata"]["name"]) for m in manifests if m["kind"] not in ADOPTABLE}
    existing = {(item["kind"], item["metadata"]["name"]) for item in live}
    return [f"{kind} {name}" for kind, name in sorted((rendered & existing) - held)]


def ownership_lines(
    stack: str, project_dir: Path, namespace: str, manifests: list[Manifest], live: list[Manifest]
) -> list[str]:
    """One line naming the objects another stack (or a person) made, if any."""
    foreign = foreign_objects(live, manifests, state_objects(stack, project_dir))
    if not foreign:
        return []
    return [
        f"{len(foreign)} objects this stack makes already exist in {namespace} and are not in its state: "
        f"{', '.join(foreign)}. Another stack or a person made them, and `up` would take them over. "
        "Deploy into a namespace of its own, or delete them if they are leftovers. If an `up` of "
        f"this stack was killed before its state recorded them, run `make recover STACK={stack}` instead."
    ]


def refusal(stack: str, project_dir: Path, ownership: bool = True) -> str | None:
    """The message that stops `make up` before anything is deployed, or None to go on.

    Nothing is refused when the stack file does not render (`pulumi up` reports that in
    its own words) or when the namespace cannot be read (a note says so). `ownership` off
    is for `make recover`: a killed `up` may have made objects that its state never recorded,
    not even as pending, and recovering adopts them.
    """
    try:
        rendered = run_program(stack_config(stack, project_dir), stack=stack, project_dir=project_dir)
    except (StackFileError, pulumi.RunError):
        return None
    namespaces = {m["metadata"].get("namespace") for m in rendered.manifests} - {None}
    if len(namespaces) != 1:
        return None
    namespace = str(namespaces.pop())
    live = live_objects(namespace, rendered.manifests)
    if isinstance(live, str):
        print(f"make up: the namespace's objects were not checked: {live}", file=sys.stderr)
        live = []
    lines = ownership_lines(stack, project_dir, namespace, rendered.manifests, live) if ownership else []
    lines += quota_lines(namespace, rendered.manifests, live) + limit_range_lines(
        namespace, rendered.manifests
    )
    if not lines:
        return None
    listed = "\n".join(f"  {line}" for line in lines)
    return f"make up: the stack does not fit the namespace; nothing was deployed:\n{listed}"
