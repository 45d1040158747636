"""The Restricted Pod Security Standard checker (tests/pod_security.py): every control can fail.

Each negative case breaks one control of a compliant pod and expects exactly its message,
so a control that could never fire, or that fires on the wrong field, fails here.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.pod_security import pod_templates, restricted_violations

Manifest = dict[str, Any]
WHERE = "Pod/test: "


def container(name: str = "app", **security: Any) -> Manifest:
    """A container that is Restricted-compliant under a compliant pod, unless `security` says otherwise."""
    context = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, **security}
    return {"name": name, "image": "example/app:1", "securityContext": context}


def pod(*, security: Manifest | None = None, **fields: Any) -> Manifest:
    """A compliant pod spec; `security` replaces the pod security context, `fields` add or replace fields."""
    context = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    return {
        "securityContext": context if security is None else security,
        "containers": [container()],
        **fields,
    }


def violations(spec: Manifest, metadata: Manifest | None = None) -> list[str]:
    return restricted_violations(spec, metadata, WHERE)


C0 = "spec.containers[0].securityContext"
NO_DEFAULTS: Manifest = {}  # a pod security context that sets nothing


NEGATIVE_CASES: list[tuple[str, Manifest, Manifest | None, list[str]]] = [
    (
        "host-process-pod",
        pod(security={**pod()["securityContext"], "windowsOptions": {"hostProcess": True}}),
        None,
        ["spec.securityContext.windowsOptions.hostProcess must be false or unset"],
    ),
    (
        "host-process-container",
        pod(containers=[container(windowsOptions={"hostProcess": True})]),
        None,
        [f"{C0}.windowsOptions.hostProcess must be false or unset"],
    ),
    ("host-network", pod(hostNetwork=True), None, ["spec.hostNetwork must be false or unset"]),
    ("host-pid", pod(hostPID=True), None, ["spec.hostPID must be false or unset"]),
    ("host-ipc", pod(hostIPC=True), None, ["spec.hostIPC must be false or unset"]),
    (
        "privileged-init-container",
        pod(initContainers=[container("init", privileged=True)]),
        None,
        ["spec.initContainers[0].securityContext.privileged must be false or unset"],
    ),
    (
        "capability-beyond-baseline",
        pod(containers=[container(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]})]),
        None,
        [f"{C0}.capabilities.add[0] 'SYS_ADMIN' is beyond the Baseline set"],
    ),
    (
        "capability-baseline-not-restricted",
        pod(containers=[container(capabilities={"drop": ["ALL"], "add": ["NET_BIND_SERVICE", "CHOWN"]})]),
        None,
        [f"{C0}.capabilities.add[1] 'CHOWN': Restricted allows adding only NET_BIND_SERVICE"],
    ),
    (
        "capabilities-not-dropped",
        pod(containers=[container(capabilities={"drop": ["NET_RAW"]})]),
        None,
        [f"{C0}.capabilities.drop must include ALL"],
    ),
    (
        "host-path-volume",
        pod(volumes=[{"name": "host", "hostPath": {"path": "/var/log"}}]),
        None,
        [
            "spec.volumes[0].hostPath must not be set",
            "spec.volumes[0] (hostPath) must be one of configMap, csi, downwardAPI, emptyDir, "
            "ephemeral, persistentVolumeClaim, projected, secret",
        ],
    ),
    (
        "host-port",
        pod(
            containers=[
                {**container(), "ports": [{"containerPort": 80}, {"containerPort": 80, "hostPort": 80}]}
            ]
        ),
        None,
        ["spec.containers[0].ports[1].hostPort must be 0 or unset"],
    ),
    (
        "app-armor-annotation",
        pod(),
        {"annotations": {"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}},
        [
            'metadata.annotations["container.apparmor.security.beta.kubernetes.io/app"] '
            "must be runtime/default, localhost/* or unset, not 'unconfined'"
        ],
    ),
    (
        "app-armor-field",
        pod(containers=[container(appArmorProfile={"type": "Unconfined"})]),
        None,
        [f"{C0}.appArmorProfile.type must be RuntimeDefault, Localhost or unset"],
    ),
    (
        "se-linux-type",
        pod(security={**pod()["securityContext"], "seLinuxOptions": {"type": "spc_t"}}),
        None,
        ["spec.securityContext.seLinuxOptions.type 'spc_t' is not a container type"],
    ),
    (
        "se-linux-user",
        pod(containers=[container(seLinuxOptions={"user": "system_u"})]),
        None,
        [f"{C0}.seLinuxOptions.user must not be set"],
    ),
    (
        "se-linux-role",
        pod(containers=[container(seLinuxOptions={"role": "system_r"})]),
        None,
        [f"{C0}.seLinuxOptions.role must not be set"],
    ),
    (
        "proc-mount",
        pod(containers=[container(procMount="Unmasked")]),
        None,
        [f"{C0}.procMount must be Default or unset"],
    ),
    (
        "seccomp-unconfined",
        pod(containers=[container(seccompProfile={"type": "Unconfined"})]),
        None,
        [f"{C0}.seccompProfile.type must not be Unconfined"],
    ),
    (
        "seccomp-unset",
        pod(security={"runAsNonRoot": True}),
        None,
        [
            f"{C0}.seccompProfile.type must be RuntimeDefault or Localhost "
            "when spec.securityContext.seccompProfile.type is not"
        ],
    ),
    (
        "sysctl",
        pod(security={**pod()["securityContext"], "sysctls": [{"name": "kernel.msgmax", "value": "65536"}]}),
        None,
        ["spec.securityContext.sysctls[0] 'kernel.msgmax' is not a safe sysctl"],
    ),
    (
        "volume-type",
        pod(volumes=[{"name": "share", "nfs": {"server": "nfs.example", "path": "/"}}]),
        None,
        [
            "spec.volumes[0] (nfs) must be one of configMap, csi, downwardAPI, emptyDir, "
            "ephemeral, persistentVolumeClaim, projected, secret"
        ],
    ),
    (
        "privilege-escalation-unset",
        pod(containers=[{**container(), "securityContext": {"capabilities": {"drop": ["ALL"]}}}]),
        None,
        [f"{C0}.allowPrivilegeEscalation must be false"],
    ),
    (
        "privilege-escalation-ephemeral",
        pod(ephemeralContainers=[container("debug", allowPrivilegeEscalation=True)]),
        None,
        ["spec.ephemeralContainers[0].securityContext.allowPrivilegeEscalation must be false"],
    ),
    (
        "run-as-non-root-unset",
        pod(security={"seccompProfile": {"type": "RuntimeDefault"}}),
        None,
        [f"{C0}.runAsNonRoot must be true when spec.securityContext.runAsNonRoot is not"],
    ),
    (
        "run-as-non-root-false-in-container",
        pod(containers=[container(runAsNonRoot=False)]),
        None,
        [f"{C0}.runAsNonRoot must not be false"],
    ),
    (
        "run-as-non-root-false-on-pod",
        pod(
            security={"runAsNonRoot": False, "seccompProfile": {"type": "RuntimeDefault"}},
            containers=[container(runAsNonRoot=True)],
        ),
        None,
        ["spec.securityContext.runAsNonRoot must not be false"],
    ),
    (
        "run-as-user-root-pod",
        pod(security={**pod()["securityContext"], "runAsUser": 0}),
        None,
        ["spec.securityContext.runAsUser must not be 0"],
    ),
    (
        "run-as-user-root-container",
        pod(containers=[container(runAsUser=0)]),
        None,
        [f"{C0}.runAsUser must not be 0"],
    ),
]


@pytest.mark.parametrize(
    ("spec", "metadata", "expected"),
    [case[1:] for case in NEGATIVE_CASES],
    ids=[case[0] for case in NEGATIVE_CASES],
)
def test_each_control_flags_its_field(spec: Manifest, metadata: Manifest | None, expected: list[str]) -> None:
    assert violations(spec, metadata) == [WHERE + message for message in expected]


def test_a_compliant_pod_passes() -> None:
    assert violations(pod()) == []


ALLOWED_CASES: list[tuple[str, Manifest, Manifest | None]] = [
    (
        "net-bind-service-and-host-port-0",
        pod(
            containers=[
                {
                    **container(capabilities={"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}),
                    "ports": [{"containerPort": 80, "hostPort": 0}],
                }
            ]
        ),
        None,
    ),
    (
        "seccomp-and-non-root-on-every-container",
        pod(
            security=NO_DEFAULTS,
            initContainers=[container("init", runAsNonRoot=True, seccompProfile={"type": "Localhost"})],
            containers=[container(runAsNonRoot=True, seccompProfile={"type": "RuntimeDefault"})],
        ),
        None,
    ),
    (
        "profiles-and-safe-settings",
        pod(
            security={
                **pod()["securityContext"],
                "runAsUser": 1000,
                "seLinuxOptions": {"type": "container_t", "level": "s0:c123,c456"},
                "appArmorProfile": {"type": "RuntimeDefault"},
                "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}],
            },
            initContainers=[container("init")],
            containers=[container(appArmorProfile={"type": "Localhost", "localhostProfile": "k8s-app"})],
        ),
        {
            "annotations": {
                "container.apparmor.security.beta.kubernetes.io/app": "runtime/default",
                "container.apparmor.security.beta.kubernetes.io/init": "localhost/k8s-app",
            }
        },
    ),
    (
        "every-allowed-volume-type",
        pod(
            volumes=[
                {"name": "config", "configMap": {"name": "config"}},
                {"name": "csi", "csi": {"driver": "secrets-store.csi.k8s.io"}},
                {"name": "labels", "downwardAPI": {"items": []}},
                {"name": "scratch", "emptyDir": {}},
                {"name": "ephemeral", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
                {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                {"name": "token", "projected": {"sources": []}},
                {"name": "certs", "secret": {"secretName": "certs"}},
            ]
        ),
        None,
    ),
]


@pytest.mark.parametrize(
    ("spec", "metadata"), [case[1:] for case in ALLOWED_CASES], ids=[case[0] for case in ALLOWED_CASES]
)
def test_what_the_spec_allows_passes(spec: Manifest, metadata: Manifest | None) -> None:
    assert violations(spec, metadata) == []


def test_pod_templates_finds_every_pod_creating_kind() -> None:
    template = {"metadata": {"labels": {"app": "x"}}, "spec": pod()}
    manifests: list[Manifest] = [
        {"kind": kind, "metadata": {"name": "x"}, "spec": {"template": template}}
        for kind in ("Deployment", "StatefulSet", "DaemonSet", "Job")
    ]
    manifests += [
        {
            "kind": "CronJob",
            "metadata": {"name": "x"},
            "spec": {"jobTemplate": {"spec": {"template": template}}},
        },
        {"kind": "Pod", **template, "metadata": {"name": "x", "labels": {"app": "x"}}},
        {"kind": "Service", "metadata": {"name": "x"}, "spec": {"ports": []}},
    ]
    found = pod_templates(manifests)
    assert [where for where, _, _ in found] == [
        "Deployment/x: spec.template.",
        "StatefulSet/x: spec.template.",
        "DaemonSet/x: spec.template.",
        "Job/x: spec.template.",
        "CronJob/x: spec.jobTemplate.spec.template.",
        "Pod/x: ",
    ]
    assert all(spec == pod() and metadata["labels"] == {"app": "x"} for _, metadata, spec in found)


def test_messages_name_the_object_and_the_full_field_path() -> None:
    broken = {**pod(), "containers": [container(allowPrivilegeEscalation=True)]}
    manifest = {
        "kind": "StatefulSet",
        "metadata": {"name": "elk-logstash"},
        "spec": {"template": {"spec": broken}},
    }
    [(where, metadata, spec)] = pod_templates([manifest])
    assert restricted_violations(spec, metadata, where) == [
        "StatefulSet/elk-logstash: spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation "
        "must be false"
    ]
