"""Where a namespace's LimitRanges would refuse the rendered stack, named before anything is deployed."""

from __future__ import annotations

from typing import Any

from tools.limits import limit_range_problems, section_keys
from tools.render import Rendered


def limit_range(*limits: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "limits"}, "spec": {"limits": list(limits)}}


def statefulset(name: str, **resources: dict[str, str]) -> dict[str, Any]:
    container = {"name": "main", "resources": resources}
    return {
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {"template": {"spec": {"containers": [container]}}},
    }


def test_a_limit_above_the_container_maximum_names_the_container_and_its_keys() -> None:
    manifests = [statefulset("elk-elasticsearch", limits={"cpu": "2"}, requests={"cpu": "500m"})]
    assert limit_range_problems([limit_range({"type": "Container", "max": {"cpu": "1"}})], manifests) == [
        "LimitRange limits: StatefulSet elk-elasticsearch, container main: limits.cpu 2 is above the "
        "maximum 1 (change elasticsearch.resources)"
    ]


def test_a_request_below_the_minimum_and_a_ratio_too_high_are_named() -> None:
    manifests = [statefulset("elk-kibana", limits={"memory": "4Gi"}, requests={"memory": "1Gi"})]
    rule = {"type": "Container", "min": {"memory": "2Gi"}, "maxLimitRequestRatio": {"memory": "2"}}
    found = limit_range_problems([limit_range(rule)], manifests)
    assert [line.split(": ", 2)[2] for line in found] == [
        "requests.memory 1Gi is below the minimum 2Gi (change kibana.resources)",
        "limits.memory is 4 times the request, above the ratio 2 (change kibana.resources)",
    ]


def test_a_default_limit_below_the_request_clashes() -> None:
    manifests = [statefulset("elk-logstash", requests={"memory": "2Gi"})]
    found = limit_range_problems(
        [limit_range({"type": "Container", "default": {"memory": "1Gi"}})], manifests
    )
    assert found == [
        "LimitRange limits: StatefulSet elk-logstash, container main: no limits.memory is set, and the "
        "default 1Gi is below the request 2Gi (change logstash.resources)"
    ]


def test_a_pod_maximum_counts_the_containers_together() -> None:
    manifest = statefulset("elk-kibana", limits={"cpu": "1"})
    manifest["spec"]["template"]["spec"]["containers"].append(
        {"name": "b", "resources": {"limits": {"cpu": "1"}}}
    )
    found = limit_range_problems([limit_range({"type": "Pod", "max": {"cpu": "1500m"}})], [manifest])
    assert found == [
        "LimitRange limits: StatefulSet elk-kibana: its containers' limits.cpu add up to more than the pod "
        "maximum 1500m (change kibana.resources)"
    ]


def test_a_claim_outside_the_claim_limits_is_named() -> None:
    claim = {
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data-x"},
        "spec": {"resources": {"requests": {"storage": "20Gi"}}},
    }
    found = limit_range_problems(
        [limit_range({"type": "PersistentVolumeClaim", "max": {"storage": "10Gi"}})], [claim]
    )
    assert found == [
        "LimitRange limits: PersistentVolumeClaim data-x: storage 20Gi is above the maximum 10Gi"
    ]


def test_the_stacks_own_files_fit_a_limit_range_that_allows_them(
    rendered_stacks: dict[str, Rendered],
) -> None:
    """The e2e namespace's defaults (a limit and request for containers that set none) refuse nothing."""
    defaults = {
        "type": "Container",
        "default": {"cpu": "1", "memory": "1Gi"},
        "defaultRequest": {"cpu": "100m"},
    }
    for rendered in rendered_stacks.values():
        assert limit_range_problems([limit_range(defaults)], rendered.manifests) == []


def test_jobs_have_no_key_to_change() -> None:
    assert section_keys("Job elk-elasticsearch-setup").startswith("nothing in the stack file")
    assert section_keys("StatefulSet elk-elasticsearch-data") == "elasticsearch.resources"
