"""Namespaces handed out as a cluster admin would, each with a user who is admin there only.

`namespace NAME` makes the namespace (restricted Pod Security, a quota, default limits),
binds a user of its own to the built-in `admin` ClusterRole there, writes that user's
kubeconfig, and checks with `kubectl auth can-i` that the user can deploy the stack there
and do nothing outside it.
"""

from __future__ import annotations

import contextlib
import re
import time
from typing import Any

from components.configuration.units import parse_quantity
from tools.e2e import pki
from tools.e2e.layout import (
    CLUSTER_NAME,
    ClusterError,
    Layout,
    admin_kubectl,
    apiserver_ready,
    apiserver_url,
    apply,
    cluster_ports,
    say,
)
from tools.e2e.provisioner import Kubectl, KubectlError

DEFAULT_QUOTA = {
    "requests.cpu": "16",
    "limits.cpu": "32",
    "requests.memory": "64Gi",
    "limits.memory": "64Gi",
    "requests.storage": "500Gi",
    "persistentvolumeclaims": "50",
    "pods": "50",
}
CONTAINER_DEFAULTS = {
    "default": {"cpu": "1", "memory": "1Gi"},
    "defaultRequest": {"cpu": "100m", "memory": "256Mi"},
}
NAMESPACE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# What a namespace user must be able to do in its namespace, and must not do: (check, namespace),
# where None is cluster scope and "" the user's own namespace.
USER_MAY = tuple(
    (f"create {resource}", "")
    for resource in (
        "statefulsets.apps",
        "deployments.apps",
        "jobs.batch",
        "services",
        "secrets",
        "configmaps",
        "serviceaccounts",
        "persistentvolumeclaims",
        "networkpolicies.networking.k8s.io",
        "poddisruptionbudgets.policy",
        "ingresses.networking.k8s.io",
        "roles.rbac.authorization.k8s.io",
        "rolebindings.rbac.authorization.k8s.io",
    )
)
USER_MAY_NOT: tuple[tuple[str, str | None], ...] = (
    ("list nodes", None),
    ("create namespaces", None),
    ("list persistentvolumes", None),
    ("create storageclasses.storage.k8s.io", None),
    ("update resourcequotas", ""),
    ("list pods", "default"),
    ("get secrets", "kube-system"),
)


# --- Namespaces handed out to users -------------------------------------------------------


def namespace_objects(namespace: str, user: str, quota: dict[str, str]) -> list[dict[str, Any]]:
    """A pre-allocated namespace: restricted Pod Security, quota, default limits, one admin."""
    modes = ("enforce", "warn", "audit")
    pod_security = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in modes}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": pod_security}},
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "namespace-quota", "namespace": namespace},
            "spec": {"hard": quota},
        },
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": {"name": "container-defaults", "namespace": namespace},
            "spec": {"limits": [{"type": "Container", **CONTAINER_DEFAULTS}]},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "namespace-admin", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        },
    ]


def parse_quota(overrides: list[str]) -> dict[str, str]:
    """The default quota with `KEY=VALUE` overrides applied."""
    quota = dict(DEFAULT_QUOTA)
    for override in overrides:
        key, separator, value = override.partition("=")
        if not separator or not key:
            raise ClusterError(f"--quota {override!r}: expected KEY=VALUE, e.g. requests.cpu=8")
        try:
            parse_quantity(value)
        except ValueError as error:
            raise ClusterError(f"--quota {key}: {error}") from error
        quota[key] = value
    return quota


def can_i(kubectl: Kubectl, check: str, namespace: str | None) -> bool:
    """`kubectl auth can-i` (a SelfSubjectAccessReview) as whoever `kubectl` authenticates as."""
    scope = ["-n", namespace] if namespace else []
    result = kubectl.completed("auth", "can-i", *check.split(), *scope)
    answer = result.stdout.strip()
    if answer not in ("yes", "no"):
        raise ClusterError(f"kubectl auth can-i {check}: {result.stderr.strip() or answer}")
    return answer == "yes"


def wrong_rights(kubectl: Kubectl, namespace: str) -> list[str]:
    """What the user can do but must not, or cannot do but must, in words."""
    wrong = []
    for checks, allowed in ((USER_MAY, True), (USER_MAY_NOT, False)):
        for check, where in checks:
            scope = None if where is None else where or namespace
            if can_i(kubectl, check, scope) != allowed:
                wrong.append(f"{'cannot' if allowed else 'can'} {check} in {scope or 'cluster scope'}")
    return wrong


def verify_user(kubectl: Kubectl, namespace: str, timeout: float = 15) -> None:
    """Fail unless the user can do what a deploy needs in its namespace, and nothing outside it.

    A new RoleBinding takes the API server's RBAC cache a moment to see, so a first answer
    of "cannot" is asked again until `timeout`.
    """
    deadline = time.monotonic() + timeout
    while wrong := wrong_rights(kubectl, namespace):
        if time.monotonic() > deadline:
            raise ClusterError(f"namespace user has the wrong rights: {'; '.join(wrong)}")
        time.sleep(0.5)


def wait_for_default_service_account(kubectl: Kubectl, namespace: str, timeout: float = 30) -> None:
    """Pods are refused until the controller manager has made the namespace's `default` SA."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(KubectlError):
            kubectl.run("get", "serviceaccount", "default", "-n", namespace, "-o", "name")
            return
        time.sleep(0.5)
    raise ClusterError(f"no `default` ServiceAccount in {namespace} after {timeout:.0f} s")


def namespace(layout: Layout, name: str, quota_overrides: list[str]) -> None:
    """Create or update namespace NAME and write DIR/NAME.kubeconfig for its only admin."""
    if not NAMESPACE_NAME.match(name):
        raise ClusterError(f"{name!r} is not a valid namespace name (lower-case letters, digits and '-')")
    quota = parse_quota(quota_overrides)
    if not layout.ports_file.exists() or not apiserver_ready(layout, ports := cluster_ports(layout)):
        raise ClusterError(f"the cluster in {layout.root} is not up; run `python -m tools.e2e.cluster up`")
    admin = admin_kubectl(layout)
    user = f"elk-user-{name}"
    ca = pki.key_pair(layout.pki, "ca")
    client = pki.ensure_cert(ca, pki.key_pair(layout.pki / "users", user), user)
    apply(admin, *namespace_objects(name, user, quota))
    config = pki.kubeconfig(apiserver_url(ports), ca.cert, client, user, CLUSTER_NAME, namespace=name)
    kubeconfig = pki.write_kubeconfig(layout.kubeconfig(name), config)
    wait_for_default_service_account(admin, name)
    verify_user(Kubectl(admin.binary, kubeconfig), name)
    checked = len(USER_MAY) + len(USER_MAY_NOT)
    say(
        f"namespace {name}: restricted Pod Security, quota and default limits; user {user} is admin "
        f"in {name} and nothing else ({checked} rights checked); KUBECONFIG={kubeconfig}"
    )
