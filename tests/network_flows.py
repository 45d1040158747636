"""Which connections the stack's NetworkPolicies let out, by Kubernetes' rules.

Used on renders and on the live objects of the local control plane.
A pod selected by no policy with `Egress` may connect anywhere; otherwise some egress rule
of some such policy must admit the port and the destination. Only pod-selector and
port-only rules are evaluated: the stack writes no other kind between its own pods.
"""

from __future__ import annotations

from typing import Any

Manifest = dict[str, Any]
ES = {"app.kubernetes.io/name": "elasticsearch", "app.kubernetes.io/instance": "elk"}
DNS_SERVER = {"k8s-app": "kube-dns"}
ELSEWHERE = {"app": "elsewhere"}


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


def egress_admits(manifests: list[Manifest], source: dict[str, str], to: dict[str, str], port: int) -> bool:
    """Whether pods with labels `source` may connect to pods with labels `to` on TCP (or UDP 53) `port`."""
    policies = [
        m
        for m in manifests
        if m["kind"] == "NetworkPolicy"
        and "Egress" in m["spec"].get("policyTypes", [])
        and _matches(m["spec"]["podSelector"], source)
    ]
    if not policies:
        return True
    for policy in policies:
        for rule in policy["spec"].get("egress") or []:
            ports_ok = any(p.get("port") == port for p in rule.get("ports", []))
            peers = rule.get("to")
            to_ok = peers is None or any(
                "podSelector" in peer and _matches(peer["podSelector"], to) for peer in peers
            )
            if ports_ok and to_ok:
                return True
    return False


def pod_labels(manifests: list[Manifest]) -> dict[str, dict[str, str]]:
    """Each workload's pod labels, by its `app.kubernetes.io/name`."""
    return {
        m["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]: m["spec"]["template"][
            "metadata"
        ]["labels"]
        for m in manifests
        if m["kind"] in ("StatefulSet", "Deployment", "Job")
    }


def flow_violations(manifests: list[Manifest]) -> list[str]:
    """Flows the stack needs that are refused, and flows it must not have that are let out.

    Needed: every pod resolves names (53), every client calls Elasticsearch on 9200, the
    nodes reach each other on 9300. Not wanted: a client on 9300, anyone to some other pod.
    """
    problems = []
    for app, labels in pod_labels(manifests).items():
        if not egress_admits(manifests, labels, DNS_SERVER, 53):
            problems.append(f"{app} cannot resolve names (53)")
        if app == "elasticsearch":
            if not egress_admits(manifests, labels, ES, 9300):
                problems.append("elasticsearch nodes cannot reach each other on 9300")
        else:
            if not egress_admits(manifests, labels, ES, 9200):
                problems.append(f"{app} cannot reach Elasticsearch on 9200")
            if egress_admits(manifests, labels, ES, 9300):
                problems.append(f"{app} may reach Elasticsearch on 9300")
        if egress_admits(manifests, labels, ELSEWHERE, 443):
            problems.append(f"{app} may reach other pods on 443")
    return problems
