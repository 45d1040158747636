"""Run one rendered container on this machine, as the kubelet would run it in its pod.

Each container runs in a private mount and UTS namespace (`unshare`), so the paths it sees
are exactly the rendered ones: the Elasticsearch distribution at the image's home
(`/usr/share/elasticsearch`), each ConfigMap and Secret volume bind-mounted at its
`mountPath` (one file for a `subPath`), a claim's directory (kept across restarts, as a
PersistentVolume is) at its mount, and the pod's own `/etc/hosts` and `/tmp`. It runs as the
pod's `runAsUser`/`runAsGroup` with `fsGroup` as a supplementary group, as the kubelet runs
it: Elasticsearch refuses root. The files keep their rendered modes, owned by root and the
pod's fsGroup. So this needs root (to mount and to switch users), as CI has.

What the image gives a container and the distribution does not is in `IMAGES`, one entry
per image; what runs as the image's entrypoint is `image-entrypoint.sh`, a stand-in that says so.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tools.real_es import distribution
from tools.real_es.network import AddressMap, bind_node, curl_localhost
from tools.real_es.pods import Container, File, PodError

ENTRYPOINT_STAND_IN = Path(__file__).with_name("image-entrypoint.sh")
ES_HOME = "/usr/share/elasticsearch"
SETTINGS_FILE = f"{ES_HOME}/config/elasticsearch.yml"
# Top-level directories a pod may mount into that hold nothing the container needs: each is
# an empty tmpfs inside the pod's namespace, so the mount points never touch this machine.
SCRATCH_ROOTS = ("/mnt", "/opt")


@dataclass(frozen=True)
class Image:
    """What an image gives its containers that the rendered pod does not say."""

    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    workdir: str
    env: dict[str, str]
    writable: tuple[str, ...]
    """Directories of the image's home that its user may write (copied fresh per container start)."""


IMAGES = {
    "docker.elastic.co/elasticsearch/elasticsearch": Image(
        entrypoint=("/usr/local/bin/docker-entrypoint.sh",),
        cmd=("eswrapper",),
        workdir=ES_HOME,
        env={
            "ELASTIC_CONTAINER": "true",
            "HOME": ES_HOME,
            "PATH": f"{ES_HOME}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        },
        writable=("config", "data", "logs"),
    ),
}


class RunnerError(Exception):
    """A container could not be started or did not become ready; the message has its log."""


def require_root() -> None:
    """Fail with one clear line where the tier cannot mount or switch users."""
    if os.geteuid() != 0:
        raise RunnerError(
            "the real-Elasticsearch tier runs each node in its own mount namespace as the pod's "
            "user, which needs root (CI runs as root); run it as root"
        )
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        raise RunnerError(f"`unshare --mount` is not permitted here: {probe.stderr.strip()}")


def image_of(container: Container) -> Image:
    """The image facts for the container's image (its name without the tag)."""
    name = container.image.rsplit(":", 1)[0]
    if name not in IMAGES:
        raise PodError(f"{container.pod}: no way to run image {container.image} here")
    return IMAGES[name]


def _write_files(directory: Path, files: tuple[File, ...], group: int | None) -> None:
    """A projected volume: each file with its mode, owned by root and the pod's fsGroup."""
    directory.mkdir(parents=True, exist_ok=True)
    for file in files:
        path = directory / file.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(file.content)
        os.chown(path, 0, group if group is not None else 0)
        path.chmod(file.mode)
    directory.chmod(0o755)


def _own(path: Path, user: int, group: int) -> None:
    for entry in [path, *path.rglob("*")]:
        os.chown(entry, user, group, follow_symlinks=False)


@dataclass
class Workspace:
    """Where pods keep their files (fresh per start) and claims (kept across starts).

    It also knows each running pod's `/etc/hosts`, and rewrites them in place when a name
    moves (a pod started later behind a Service), as cluster DNS follows its endpoints.
    """

    root: Path
    addresses: AddressMap
    shared_claims: dict[str, Path] = field(default_factory=dict)
    """Claims whose volume is another's directory (one NFS share claimed by two stacks)."""
    hosts: dict[Path, tuple[str, dict[str, list[str]]]] = field(default_factory=dict)

    def claim(self, name: str, user: int, group: int) -> Path:
        """A claim's directory: created once, owned by the pod's user, as fsGroup would leave it."""
        path = self.shared_claims.get(name) or self.root / "claims" / name
        if not path.exists():
            path.mkdir(parents=True)
            os.chown(path, user, group)
        return path

    def share(self, claim: str, volume: Path) -> None:
        """Let `claim` be the directory `volume` (another stack's claim), as two claims of one NFS export."""
        print(f"claims: {claim} is the volume {volume}")
        self.shared_claims[claim] = volume

    def write_hosts(self, path: Path, pod: str, overrides: dict[str, list[str]]) -> None:
        """Write (and remember) one pod's `/etc/hosts`."""
        self.hosts[path] = (pod, overrides)
        path.write_text(self.addresses.hosts_file(pod, overrides))
        path.chmod(0o644)

    def refresh_hosts(self) -> None:
        """Rewrite every pod's `/etc/hosts` in place (the same inode, which its bind mount shows)."""
        for path, (pod, overrides) in self.hosts.items():
            if path.exists():
                with path.open("r+") as file:
                    file.truncate(0)
                    file.write(self.addresses.hosts_file(pod, overrides))

    def pod_dir(self, pod: str) -> Path:
        """A fresh directory for one start of `pod` (the previous start's is removed)."""
        path = self.root / "pods" / pod
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path


@dataclass
class Running:
    """A started container: its process (the root of its namespace), log and environment."""

    container: Container
    address: str
    directory: Path
    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]

    def alive(self) -> bool:
        """Whether the container's main process still runs."""
        return self.process.poll() is None

    def output(self) -> str:
        """The container's output so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def log_tail(self, lines: int = 30) -> str:
        """The end of the container's output."""
        return "\n".join(self.output().strip().splitlines()[-lines:])

    def exec(
        self, command: list[str] | tuple[str, ...], timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """Run `command` in the container, as a probe or `kubectl exec` does: its namespace, user and env."""
        user = _user_switch(self.container)
        env = ["env", "-i", "-C", image_of(self.container).workdir, *_assignments(self.env)]
        enter = ["nsenter", "--target", str(self.process.pid), "--mount", "--uts", "--"]
        return subprocess.run(
            [*enter, *user, *env, *command], capture_output=True, text=True, timeout=timeout, check=False
        )

    def probe(self, kind: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run the container's exec probe of `kind` (startup, readiness, liveness)."""
        if kind not in self.container.probes:
            raise PodError(f"{self.container.pod} has no exec {kind} probe")
        return self.exec(self.container.probes[kind], timeout)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, as a pod deletion sends, then SIGKILL after `timeout`; the exit status."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def _user_switch(container: Container) -> list[str]:
    groups = f"--groups={container.fs_group}" if container.fs_group is not None else "--clear-groups"
    return ["setpriv", f"--reuid={container.user}", f"--regid={container.group}", groups, "--"]


def _assignments(env: dict[str, str]) -> list[str]:
    return [f"{key}={value}" for key, value in env.items()]


def _command(container: Container, image: Image) -> list[str]:
    """Kubernetes' rule: `command` replaces the entrypoint, `args` the image's CMD."""
    entrypoint = list(container.command) if container.command is not None else list(image.entrypoint)
    args = (
        list(container.args) if container.args is not None else ([] if container.command else list(image.cmd))
    )
    return entrypoint + args


def _image_layer(
    pod_dir: Path, container: Container, es_home: Path, image: Image, curl_config: str
) -> list[tuple[str, Path, bool]]:
    """The image's filesystem: its home from the distribution, writable directories fresh, the entrypoint.

    The home's `.curlrc` (the image user's HOME) carries the pod's `localhost` mapping, which
    curl resolves itself rather than through `/etc/hosts`.
    """
    home = pod_dir / "image" / "home"
    home.mkdir(parents=True)
    (home / ".curlrc").write_text(curl_config)
    (home / ".curlrc").chmod(0o644)
    # A read-only root: the image's files as they are (still fresh per start, so mount points
    # can be made in them), and nothing writable but the pod's volumes.
    read_only = container.read_only_root
    binds: list[tuple[str, Path, bool]] = [(ES_HOME, home, read_only)]
    for name in sorted({entry.name for entry in es_home.iterdir() if entry.is_dir()} | set(image.writable)):
        source = es_home / name
        if name not in image.writable:
            binds.append((f"{ES_HOME}/{name}", source, True))
            continue
        copy = pod_dir / "image" / name
        if source.is_dir():
            shutil.copytree(source, copy)
        else:
            copy.mkdir(parents=True)
        _own(copy, container.user, container.group)
        binds.append((f"{ES_HOME}/{name}", copy, read_only))
    local_bin = pod_dir / "image" / "local-bin"
    local_bin.mkdir(parents=True)
    shutil.copy(ENTRYPOINT_STAND_IN, local_bin / "docker-entrypoint.sh")
    (local_bin / "docker-entrypoint.sh").chmod(0o755)
    binds.append(("/usr/local/bin", local_bin, True))
    return binds


def _volume_binds(pod_dir: Path, container: Container, workspace: Workspace) -> list[tuple[str, Path, bool]]:
    """Each volumeMount as a bind: projected files, claims and empty directories."""
    binds = []
    for mount in container.mounts:
        volume = container.volumes[mount.volume]
        if volume.claim is not None:
            root = workspace.claim(volume.claim, container.user, container.fs_group or container.group)
        else:
            root = pod_dir / "volumes" / volume.name
            if not root.exists():
                _write_files(root, volume.files, container.fs_group)
                if not volume.files:
                    root.chmod(0o777)
        binds.append((mount.path, root / mount.sub_path if mount.sub_path else root, mount.read_only))
    return binds


def namespace_script(
    container: Container,
    binds: list[tuple[str, Path, bool]],
    hosts: Path,
    tmp: Path,
    command: list[str],
    env: dict[str, str],
    workdir: str,
) -> str:
    """The root shell that builds the container's mounts, then becomes its user and runs it."""
    lines = ["set -e", f"hostname {shlex.quote(container.pod)}"]
    scratch = sorted({root for root in SCRATCH_ROOTS for path, _, _ in binds if path.startswith(f"{root}/")})
    lines += [f"mount -t tmpfs -o mode=0755 tmpfs {root}" for root in scratch]
    # A volume at /tmp (an emptyDir) is mounted last, as the pod's own /tmp is otherwise.
    tmp_volume = next((source for target, source, _ in binds if target == "/tmp"), None)
    ordered = sorted((b for b in binds if b[0] != "/tmp"), key=lambda bind: bind[0].count("/"))
    for target, source, _ in ordered:
        quoted = shlex.quote(target)
        create = f"mkdir -p {quoted}" if source.is_dir() else f"mkdir -p $(dirname {quoted}); touch {quoted}"
        lines += [f"[ -e {quoted} ] || {{ {create}; }}", f"mount --bind {shlex.quote(str(source))} {quoted}"]
    # Read-only last, deepest first: a mount point inside a read-only volume is made before.
    lines += [
        f"mount -o remount,bind,ro {shlex.quote(t)}" for t, _, read_only in reversed(ordered) if read_only
    ]
    # Last: the workspace itself may lie under /tmp.
    lines += [
        f"mount --bind {shlex.quote(str(hosts))} /etc/hosts",
        f"mount --bind {shlex.quote(str(tmp_volume or tmp))} /tmp",
    ]
    if container.read_only_root and tmp_volume is None:
        lines.append("mount -o remount,bind,ro /tmp")
    switch = " ".join(map(shlex.quote, _user_switch(container)))
    run = " ".join(map(shlex.quote, ["env", "-i", "-C", workdir, *_assignments(env), *command]))
    lines.append(f"exec {switch} {run}")
    return "\n".join(lines) + "\n"


def start(
    container: Container,
    workspace: Workspace,
    *,
    host_overrides: dict[str, list[str]] | None = None,
    java_home: Path | None = None,
) -> Running:
    """Start the container from its rendered files, as its user, at its pod's loopback address."""
    image = image_of(container)
    address = workspace.addresses.add_pod(container.pod)
    pod_dir = workspace.pod_dir(container.pod)
    es_home = distribution.home(container.version)

    curl_config = curl_localhost(container.pod, address)
    volumes = _volume_binds(pod_dir, container, workspace)
    # A volume mounted over an image directory (an emptyDir at logs/) replaces it.
    covered = {target for target, _, _ in volumes}
    binds = [b for b in _image_layer(pod_dir, container, es_home, image, curl_config) if b[0] not in covered]
    binds += volumes
    for target, source, _ in binds:
        if target == SETTINGS_FILE:
            source.write_text(bind_node(source.read_text(), container.pod, address))
    hosts = pod_dir / "hosts"
    workspace.write_hosts(hosts, container.pod, host_overrides or {})
    tmp = pod_dir / "tmp"
    tmp.mkdir()
    tmp.chmod(0o1777)
    # The kubelet sets HOSTNAME to the pod's name; the image sets the rest of its env.
    env = {**image.env, "HOSTNAME": container.pod, **container.env}
    env["ES_JAVA_HOME"] = str(java_home or distribution.java_home())
    script = namespace_script(container, binds, hosts, tmp, _command(container, image), env, image.workdir)
    log = pod_dir / "output.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["unshare", "--mount", "--uts", "--propagation", "private", "bash", "-c", script],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Running(container, address, pod_dir, process, log, env)


def wait_until(
    running: Running, probe: str, timeout: float, pause: float = 2
) -> subprocess.CompletedProcess[str]:
    """Run the container's `probe` until it passes; fail with its answer and the log when it never does."""
    deadline = time.monotonic() + timeout
    while True:
        if not running.alive():
            raise RunnerError(
                f"{running.container.pod} exited ({running.process.returncode}):\n{running.log_tail()}"
            )
        result = running.probe(probe)
        if result.returncode == 0:
            return result
        if time.monotonic() > deadline:
            raise RunnerError(
                f"{running.container.pod}: the {probe} probe still fails after {timeout:.0f} s: "
                f"{(result.stdout + result.stderr).strip()}\n{running.log_tail()}"
            )
        time.sleep(pause)


def wait_for_log(running: Running, text: str, timeout: float, pause: float = 2) -> None:
    """Until the container's output shows `text`; fail with its log when it exits or never does."""
    deadline = time.monotonic() + timeout
    while text not in running.output():
        if not running.alive() or time.monotonic() > deadline:
            ended = "it exited" if not running.alive() else f"{timeout:.0f} s passed"
            raise RunnerError(f"{running.container.pod}: {ended} before {text!r}:\n{running.log_tail()}")
        time.sleep(pause)
