"""The Pod Security Standards "restricted" profile, as a pure check over pod templates.

Spec: https://kubernetes.io/docs/concepts/security/pod-security-standards/ (Baseline and
Restricted tables). Restricted includes everything from Baseline, so both levels' controls
are checked here, one small function per control, each returning `path problem` strings.
A namespace labelled `pod-security.kubernetes.io/enforce: restricted` rejects any pod
that fails one; checking the rendered manifests tells us before a cluster does.

Deliberate departures from the spec, both stricter:
- The spec lifts Privilege Escalation, Seccomp and Capabilities for `spec.os.name:
  windows` pods. This stack only runs Linux images, so the exemption is not applied.
- With user namespaces (`hostUsers: false`) admission relaxes the runAsNonRoot and
  runAsUser checks. This stack does not use them, so that relaxation is not applied either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from tests.invariants import pod_template, ref

Manifest = dict[str, Any]
Control = Callable[[Manifest, Manifest], list[str]]

CONTAINER_FIELDS = ("initContainers", "containers", "ephemeralContainers")
# Baseline: capabilities a container may add (the container runtime's default set).
BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
RESTRICTED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
PROFILE_TYPES = frozenset({"RuntimeDefault", "Localhost"})
# Baseline "safe" sysctls, the spec's list up to its newest entries (Kubernetes 1.29).
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
# Restricted: every volume must take its content from one of these.
RESTRICTED_VOLUME_SOURCES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)


def containers(spec: Manifest) -> Iterator[tuple[str, Manifest]]:
    """Every container (init, regular and ephemeral) with its path, e.g. `spec.containers[0]`."""
    for field in CONTAINER_FIELDS:
        for index, container in enumerate(spec.get(field) or []):
            yield f"spec.{field}[{index}]", container


def security_contexts(spec: Manifest) -> Iterator[tuple[str, Manifest]]:
    """The pod's security context, then each container's, with their paths (absent = {})."""
    yield "spec.securityContext", spec.get("securityContext") or {}
    for path, container in containers(spec):
        yield f"{path}.securityContext", container.get("securityContext") or {}


def container_contexts(spec: Manifest) -> Iterator[tuple[str, Manifest]]:
    """Each container's security context with its path."""
    for path, container in containers(spec):
        yield f"{path}.securityContext", container.get("securityContext") or {}


def host_process(spec: Manifest, _: Manifest) -> list[str]:
    """Baseline: no Windows HostProcess containers, at pod or container level."""
    return [
        f"{path}.windowsOptions.hostProcess must be false or unset"
        for path, context in security_contexts(spec)
        if (context.get("windowsOptions") or {}).get("hostProcess") not in (None, False)
    ]


def host_namespaces(spec: Manifest, _: Manifest) -> list[str]:
    """Baseline: the pod shares none of the host's network, PID or IPC namespaces."""
    return [
        f"spec.{field} must be false or unset"
        for field in ("hostNetwork", "hostPID", "hostIPC")
        if spec.get(field) not in (None, False)
    ]


def privileged(spec: Manifest, _: Manifest) -> list[str]:
    """Baseline: no privileged containers."""
    return [
        f"{path}.privileged must be false or unset"
        for path, context in container_contexts(spec)
        if context.get("privileged") not in (None, False)
    ]


def capabilities(spec: Manifest, _: Manifest) -> list[str]:
    """Baseline limits added capabilities; Restricted drops ALL and adds back NET_BIND_SERVICE only."""
    violations: list[str] = []
    for path, context in container_contexts(spec):
        capability_lists = context.get("capabilities") or {}
        for index, capability in enumerate(capability_lists.get("add") or []):
            at = f"{path}.capabilities.add[{index}]"
            if capability not in BASELINE_CAPABILITIES:
                violations.append(f"{at} {capability!r} is beyond the Baseline set")
            elif capability not in RESTRICTED_CAPABILITIES:
                violations.append(f"{at} {capability!r}: Restricted allows adding only NET_BIND_SERVICE")
        if "ALL" not in (capability_lists.get("drop") or []):
            violations.append(f"{path}.capabilities.drop must include ALL")
    return violations


def host_path_volumes(spec: Manifest, _: Manifest) -> list[str]:
    """Baseline: no hostPath volumes."""
    return [
        f"spec.volumes[{index}].hostPath must not be set"
        for index, volume in enumerate(spec.get("volumes") or [])
        if volume.get("hostPath") is not None
    ]


def host_ports(spec: Manifest, _: Manifest) -> list[str]:
    """Baseline: no host ports (the recommended form: none at all, not a known list)."""
    return [
        f"{path}.ports[{index}].hostPort must be 0 or unset"
        for path, container in containers(spec)
        for index, port in enumerate(container.get("ports") or [])
        if port.get("hostPort") not in (None, 0)
    ]


def app_armor(spec: Manifest, metadata: Manifest) -> list[str]:
    """Baseline: AppArmor is never overridden to unconfined, by field or by the older annotation."""
    violations = [
        f"{path}.appArmorProfile.type must be RuntimeDefault, Localhost or unset"
        for path, context in security_contexts(spec)
        if (context.get("appArmorProfile") or {}).get("type") not in (None, *PROFILE_TYPES)
    ]
    for key, value in (metadata.get("annotations") or {}).items():
        allowed = value == "runtime/default" or str(value).startswith("localhost/")
        if key.startswith(APPARMOR_ANNOTATION) and not allowed:
            violations.append(
                f'metadata.annotations["{key}"] must be runtime/default, localhost/* or unset, not {value!r}'
            )
    return violations


def se_linux(spec: Manifest, _: Manifest) -> list[str]:
    """Baseline: the SELinux type is a container type, and user and role are never set."""
    violations: list[str] = []
    for path, context in security_contexts(spec):
        options = context.get("seLinuxOptions") or {}
        if options.get("type") not in (None, *SELINUX_TYPES):
            violations.append(f"{path}.seLinuxOptions.type {options['type']!r} is not a container type")
        violations += [
            f"{path}.seLinuxOptions.{field} must not be set"
            for field in ("user", "role")
            if options.get(field) not in (None, "")
        ]
    return violations


def proc_mount(spec: Manifest, _: Manifest) -> list[str]:
    """Baseline: the default /proc masks stay."""
    return [
        f"{path}.procMount must be Default or unset"
        for path, context in container_contexts(spec)
        if context.get("procMount") not in (None, "Default")
    ]


def _seccomp_type(context: Manifest) -> str | None:
    return (context.get("seccompProfile") or {}).get("type")


def seccomp(spec: Manifest, _: Manifest) -> list[str]:
    """Baseline forbids Unconfined; Restricted needs RuntimeDefault or Localhost on every container.

    A container may leave it unset when the pod sets a valid one, and the pod may leave it
    unset when every container sets one.
    """
    violations: list[str] = []
    for path, context in security_contexts(spec):
        profile = _seccomp_type(context)
        if profile == "Unconfined":
            violations.append(f"{path}.seccompProfile.type must not be Unconfined")
        elif profile is not None and profile not in PROFILE_TYPES:
            violations.append(f"{path}.seccompProfile.type {profile!r} must be RuntimeDefault or Localhost")
    if _seccomp_type(spec.get("securityContext") or {}) not in PROFILE_TYPES:
        violations += [
            f"{path}.seccompProfile.type must be RuntimeDefault or Localhost "
            "when spec.securityContext.seccompProfile.type is not"
            for path, context in container_contexts(spec)
            if _seccomp_type(context) is None
        ]
    return violations


def sysctls(spec: Manifest, _: Manifest) -> list[str]:
    """Baseline: only the safe, namespaced sysctls."""
    return [
        f"spec.securityContext.sysctls[{index}] {sysctl.get('name')!r} is not a safe sysctl"
        for index, sysctl in enumerate((spec.get("securityContext") or {}).get("sysctls") or [])
        if sysctl.get("name") not in SAFE_SYSCTLS
    ]


def volume_types(spec: Manifest, _: Manifest) -> list[str]:
    """Restricted: every volume takes its content from an allowed source, and from nothing else."""
    violations: list[str] = []
    for index, volume in enumerate(spec.get("volumes") or []):
        sources = {key for key, value in volume.items() if key != "name" and value is not None}
        if not sources or not sources <= RESTRICTED_VOLUME_SOURCES:
            shown = ", ".join(sorted(sources)) or "no source"
            allowed = ", ".join(sorted(RESTRICTED_VOLUME_SOURCES))
            violations.append(f"spec.volumes[{index}] ({shown}) must be one of {allowed}")
    return violations


def privilege_escalation(spec: Manifest, _: Manifest) -> list[str]:
    """Restricted: every container sets allowPrivilegeEscalation to false, explicitly."""
    return [
        f"{path}.allowPrivilegeEscalation must be false"
        for path, context in container_contexts(spec)
        if context.get("allowPrivilegeEscalation") is not False
    ]


def run_as_non_root(spec: Manifest, _: Manifest) -> list[str]:
    """Restricted: runAsNonRoot is true on the pod or on every container, and false nowhere."""
    violations = [
        f"{path}.runAsNonRoot must not be false"
        for path, context in security_contexts(spec)
        if context.get("runAsNonRoot") is False
    ]
    if (spec.get("securityContext") or {}).get("runAsNonRoot") is not True:
        violations += [
            f"{path}.runAsNonRoot must be true when spec.securityContext.runAsNonRoot is not"
            for path, context in container_contexts(spec)
            if context.get("runAsNonRoot") is None
        ]
    return violations


def run_as_user(spec: Manifest, _: Manifest) -> list[str]:
    """Restricted: no security context sets runAsUser to 0 (root)."""
    return [
        f"{path}.runAsUser must not be 0"
        for path, context in security_contexts(spec)
        if context.get("runAsUser") == 0
    ]


BASELINE: tuple[Control, ...] = (
    host_process,
    host_namespaces,
    privileged,
    host_path_volumes,
    host_ports,
    app_armor,
    se_linux,
    proc_mount,
    sysctls,
)
# Capabilities and seccomp check their Baseline and Restricted rules together.
RESTRICTED: tuple[Control, ...] = (
    capabilities,
    seccomp,
    volume_types,
    privilege_escalation,
    run_as_non_root,
    run_as_user,
)


def restricted_violations(pod_spec: Manifest, pod_metadata: Manifest | None, where: str) -> list[str]:
    """Every way a pod spec fails the Restricted profile, each message starting with `where`.

    `where` names the object and the pod template's path, e.g. `StatefulSet/x: spec.template.`
    (`Pod/x: ` for a bare Pod), so messages read `StatefulSet/x: spec.template.spec....`.
    """
    return [
        f"{where}{problem}"
        for control in (*BASELINE, *RESTRICTED)
        for problem in control(pod_spec, pod_metadata or {})
    ]


def pod_templates(manifests: list[Manifest]) -> list[tuple[str, Manifest, Manifest]]:
    """(where, pod metadata, pod spec) for every Pod and every object with a pod template.

    Deployment, StatefulSet, DaemonSet, ReplicaSet and Job (`spec.template`), CronJob
    (`spec.jobTemplate.spec.template`) and Pod itself, as `tests.invariants` finds them.
    """
    templates: list[tuple[str, Manifest, Manifest]] = []
    for manifest in manifests:
        found = pod_template(manifest)
        if found is not None:
            prefix, template = found
            templates.append(
                (f"{ref(manifest)}: {prefix}", template.get("metadata") or {}, template.get("spec") or {})
            )
    return templates
