"""The deploy benchmark's floors follow the program's order, and its report reads the engine's events.

The benchmark itself needs the local control plane (`make bench-deploy`); here, what it
derives from a stack's state and from an event log.
"""

from __future__ import annotations

from typing import Any

from tools.bench_deploy import (
    SECRET_SIGNATURE,
    CaseResult,
    Timed,
    UpRun,
    revealed,
    state_objects,
    unsaved_line,
    verdict,
    wait_commands,
    waves,
    where_time_goes,
)

PREFIX = "urn:pulumi:qa::elk-stack::"


def k8s(kind: str, name: str, *dependencies: str, parent: str | None = None) -> dict[str, Any]:
    """A Kubernetes resource as `pulumi stack export` lists it."""
    api = "apps/v1" if kind in ("StatefulSet", "Deployment") else "batch/v1" if kind == "Job" else "v1"
    resource: dict[str, Any] = {
        "urn": f"{PREFIX}kubernetes:{api}:{kind}::{name}",
        "type": f"kubernetes:{api}:{kind}",
        "custom": True,
        "inputs": {"apiVersion": api, "kind": kind, "metadata": {"name": f"elk-{name}"}},
        "dependencies": [f"{PREFIX}{d}" for d in dependencies],
    }
    if parent:
        resource["parent"] = f"{PREFIX}{parent}"
    return resource


def component(name: str) -> dict[str, Any]:
    return {"urn": f"{PREFIX}{name}", "type": "elk-stack:index:Component", "custom": False}


def state(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"deployment": {"resources": list(resources)}}


def names(grouped: list[list[Any]]) -> list[list[str]]:
    return [sorted(applied.name for applied in wave) for wave in grouped]


def test_an_object_goes_in_the_wave_after_the_awaited_objects_before_it() -> None:
    """A Secret before a StatefulSet is applied with it: only awaited kinds make a new wave."""
    exported = state(
        k8s("Secret", "certs"),
        k8s("StatefulSet", "es", "kubernetes:v1:Secret::certs"),
        k8s("Job", "settle", "kubernetes:apps/v1:StatefulSet::es"),
        k8s("Job", "setup", "kubernetes:batch/v1:Job::settle", "kubernetes:v1:Secret::certs"),
        k8s("ConfigMap", "unrelated"),
    )
    objects, resources = state_objects(exported)
    assert names(waves(objects, resources)) == [
        ["elk-certs", "elk-es", "elk-unrelated"],
        ["elk-settle"],
        ["elk-setup"],
    ]


def test_a_dependency_on_a_component_waits_for_everything_under_it() -> None:
    exported = state(
        component("Cluster"),
        k8s("StatefulSet", "es", parent="Cluster"),
        k8s("Deployment", "kibana", "Cluster"),
    )
    objects, resources = state_objects(exported)
    assert names(waves(objects, resources)) == [["elk-es"], ["elk-kibana"]]


def test_a_dependency_through_a_generated_resource_still_orders() -> None:
    """A certificate made after a Job: the Secret that holds it waits for the Job too."""
    generated = {"urn": f"{PREFIX}Leaf::cert", "type": "pulumi-python:dynamic:Resource", "custom": True}
    generated["dependencies"] = [f"{PREFIX}kubernetes:batch/v1:Job::first"]
    exported = state(k8s("Job", "first"), generated, k8s("Secret", "certs", "Leaf::cert"))
    objects, resources = state_objects(exported)
    assert [applied.name for applied in objects] == ["elk-first", "elk-certs"]
    assert names(waves(objects, resources)) == [["elk-first"], ["elk-certs"]]


def test_secret_values_of_the_state_are_unwrapped() -> None:
    wrapped = {SECRET_SIGNATURE: "1b47061264138c4ac30d75fd1eb44270", "plaintext": '"s3cret"'}
    assert revealed({"stringData": {"password": wrapped}, "list": [wrapped]}) == {
        "stringData": {"password": "s3cret"},
        "list": ["s3cret"],
    }


def test_each_workload_and_job_gets_its_wait() -> None:
    objects, _ = state_objects(
        state(k8s("StatefulSet", "es"), k8s("Deployment", "kibana"), k8s("Job", "setup"), k8s("Secret", "s"))
    )
    assert [command[:3] for command in wait_commands(objects)] == [
        ["rollout", "status", "statefulset/elk-es"],
        ["rollout", "status", "deployment/elk-kibana"],
        ["wait", "--for=condition=complete", "job/elk-setup"],
    ]


def event(kind: str, urn: str, provider: str = "kubernetes") -> dict[str, Any]:
    key = "resourcePreEvent" if kind == "pre" else "resOutputsEvent"
    return {key: {"metadata": {"urn": f"{PREFIX}{urn}", "type": urn.split("::")[0], "provider": provider}}}


def test_the_report_names_start_up_the_longest_steps_and_the_tail() -> None:
    run = UpRun(
        10.0,
        5.0,
        [
            Timed(2.0, event("pre", "kubernetes:v1:Secret::certs")),
            Timed(2.5, event("pre", "elk-stack:index:Cluster::es", provider="")),
            Timed(2.25, event("out", "kubernetes:v1:Secret::certs")),
            Timed(3.0, event("pre", "kubernetes:apps/v1:StatefulSet::es")),
            Timed(7.0, event("out", "kubernetes:apps/v1:StatefulSet::es")),
            Timed(8.0, event("out", "elk-stack:index:Cluster::es", provider="")),
        ],
    )
    assert run.startup == 2.0
    assert where_time_goes(run, top=2) == [
        "  start-up (CLI, language host, program imports):   2.0 s",
        "    4.0 s    3.0 →   7.0  StatefulSet es",
        "    0.2 s    2.0 →   2.2  Secret certs",
        "  after the last step (summary, state write, exit):   3.0 s",
    ]


def test_a_figure_is_judged_against_its_target() -> None:
    assert verdict("up / ordered floor", 1.5, 1.5, "x").endswith("(target at most 1.5x: met)")
    assert verdict("up / ordered floor", 1.51, 1.5, "x").endswith("(target at most 1.5x: MISSED)")
    assert "target" not in verdict("up / flat floor", 2.0, None, "x")


def test_an_up_without_checkpoints_is_reported_only_when_it_ran_and_as_a_diagnosis() -> None:
    def result(unsaved: float | None) -> CaseResult:
        run = UpRun(6.0, 4.0)
        return CaseResult(run, run, 2.0, 4.0, 70, 40, 3, UpRun(unsaved, 3.0) if unsaved else None)

    assert unsaved_line([result(None)]) == []
    assert unsaved_line([result(5.0), result(4.0), result(6.0)]) == [
        "  up without state checkpoints 5.0 s (diagnosis only: never deploy so)"
    ]
