"""A volume provisioner for the local control plane: a polling loop around `kubectl`.

kwok fakes kubelets, not storage, and the local cluster has no CSI driver, so nothing
would ever bind a claim. This loop plays the external provisioner and resizer for the
StorageClasses whose `provisioner` is ours. For a Pending claim (for WaitForFirstConsumer
classes: once the scheduler has picked a node) it creates a PersistentVolume pre-bound to
the claim (`claimRef` with its uid, `Retain`, a hostPath under the cluster directory, and
for WaitForFirstConsumer a nodeAffinity to that node); the API server's own PV controller
then binds the pair, as it does for a real provisioner. When a bound claim asks for more
than its volume holds, it grows the volume and then reports the new size in the claim's
status, which is all a resize looks like from the API. Released volumes stay: `Retain`.

It also stands in for an ingress controller and a cloud load balancer, the other two
things a real cluster adds that pulumi-kubernetes waits for: an Ingress of one of our
IngressClasses, and a Service of type LoadBalancer, get `127.0.0.1` as their address in
`status.loadBalancer`. Nothing routes traffic to it; only the status is reported.

It polls once a second with one `kubectl get` instead of watching: a restart of the API
server then costs nothing but a logged error, and the loop holds no state of its own.

    python -m tools.e2e.provisioner --dir DIR --kubectl PATH --kubeconfig PATH
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from components.configuration.units import parse_quantity

PROVISIONER = "elk-stack.local/hostpath"
INGRESS_CONTROLLER = "elk-stack.local/ingress"
LOCAL_ADDRESS = {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}
SELECTED_NODE = "volume.kubernetes.io/selected-node"
HOSTNAME_LABEL = "kubernetes.io/hostname"
WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"
STARTED = "provisioner started"
Manifest = dict[str, Any]


class KubectlError(Exception):
    """A kubectl call failed; the message is its last line of error output."""


def our_classes(storage_classes: list[Manifest]) -> dict[str, Manifest]:
    """The StorageClasses this loop provisions for, by name."""
    return {sc["metadata"]["name"]: sc for sc in storage_classes if sc.get("provisioner") == PROVISIONER}


def volume_name(claim: Manifest) -> str:
    """The name of the volume made for a claim: unique per claim, as real provisioners do."""
    return f"pvc-{claim['metadata']['uid']}"


def requested_size(claim: Manifest) -> str:
    """The storage a claim asks for."""
    return str(claim["spec"]["resources"]["requests"]["storage"])


def selected_node(claim: Manifest) -> str | None:
    """The node the scheduler picked for a WaitForFirstConsumer claim, if it has."""
    node = claim["metadata"].get("annotations", {}).get(SELECTED_NODE)
    return str(node) if node else None


def needs_volume(claim: Manifest, classes: dict[str, Manifest], existing: set[str]) -> bool:
    """Whether to provision for this claim now: Pending, ours, unbound, placed if it must be."""
    storage_class = classes.get(claim["spec"].get("storageClassName") or "")
    if storage_class is None or claim.get("status", {}).get("phase") != "Pending":
        return False
    if claim["spec"].get("volumeName") or volume_name(claim) in existing:
        return False
    waits = storage_class.get("volumeBindingMode") == WAIT_FOR_FIRST_CONSUMER
    return not waits or selected_node(claim) is not None


def node_affinity(node: str) -> Manifest:
    """Pin a volume to one node, as a local disk is."""
    term = {"matchExpressions": [{"key": HOSTNAME_LABEL, "operator": "In", "values": [node]}]}
    return {"required": {"nodeSelectorTerms": [term]}}


def persistent_volume(claim: Manifest, volumes_dir: Path) -> Manifest:
    """A Retain volume of the claim's class, modes and size, pre-bound to the claim."""
    meta, spec = claim["metadata"], claim["spec"]
    name = volume_name(claim)
    volume_spec: Manifest = {
        "capacity": {"storage": requested_size(claim)},
        "accessModes": spec.get("accessModes", ["ReadWriteOnce"]),
        "volumeMode": spec.get("volumeMode", "Filesystem"),
        "persistentVolumeReclaimPolicy": "Retain",
        "storageClassName": spec["storageClassName"],
        "claimRef": {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": meta["uid"],
        },
        "hostPath": {"path": str(volumes_dir / name), "type": "DirectoryOrCreate"},
    }
    node = selected_node(claim)
    if node is not None:
        volume_spec["nodeAffinity"] = node_affinity(node)
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
        "spec": volume_spec,
    }


def is_larger(wanted: str, current: str | None) -> bool:
    """Whether quantity `wanted` exceeds `current` (a missing size counts as zero)."""
    return parse_quantity(wanted) > (parse_quantity(current) if current else Decimal(0))


def bound_pairs(
    claims: list[Manifest], volumes: dict[str, Manifest], classes: dict[str, Manifest]
) -> list[tuple[Manifest, Manifest]]:
    """Each bound claim of our classes with its volume."""
    pairs = []
    for claim in claims:
        volume = volumes.get(claim["spec"].get("volumeName") or "")
        bound = claim.get("status", {}).get("phase") == "Bound"
        if bound and volume is not None and volume["spec"].get("storageClassName") in classes:
            pairs.append((claim, volume))
    return pairs


@dataclass(frozen=True)
class Kubectl:
    """kubectl as the cluster admin."""

    binary: Path
    kubeconfig: Path

    def completed(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run kubectl with `args`, whatever its exit status (a timeout raises)."""
        command = [str(self.binary), "--kubeconfig", str(self.kubeconfig), *args]
        try:
            return subprocess.run(
                command, input=stdin, capture_output=True, text=True, timeout=30, check=False
            )
        except subprocess.TimeoutExpired as error:
            raise KubectlError(f"kubectl {args[0]} timed out") from error

    def run(self, *args: str, stdin: str | None = None) -> str:
        """Run kubectl with `args`; return its output, or raise with its last error line."""
        result = self.completed(*args, stdin=stdin)
        if result.returncode != 0:
            lines = result.stderr.strip().splitlines() or [f"exit status {result.returncode}"]
            raise KubectlError(lines[-1])
        return result.stdout


def log(message: str) -> None:
    """One timestamped line on stdout (the cluster directory's logs/provisioner.log)."""
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}", flush=True)


def provision(kubectl: Kubectl, claim: Manifest, volumes_dir: Path) -> None:
    """Create the claim's volume (and its directory); an existing one is fine."""
    volume = persistent_volume(claim, volumes_dir)
    Path(volume["spec"]["hostPath"]["path"]).mkdir(parents=True, exist_ok=True)
    try:
        kubectl.run("create", "-f", "-", stdin=json.dumps(volume))
    except KubectlError as error:
        if "AlreadyExists" not in str(error) and "already exists" not in str(error):
            raise
    meta = claim["metadata"]
    name, size = volume["metadata"]["name"], requested_size(claim)
    log(f"provisioned {name} ({size}) for {meta['namespace']}/{meta['name']}")


def grow(kubectl: Kubectl, claim: Manifest, volume: Manifest) -> None:
    """Bring a volume and the claim's reported capacity up to what the claim requests."""
    wanted = requested_size(claim)
    meta = claim["metadata"]
    if is_larger(wanted, volume["spec"]["capacity"].get("storage")):
        patch = json.dumps({"spec": {"capacity": {"storage": wanted}}})
        kubectl.run("patch", "persistentvolume", volume["metadata"]["name"], "--type=merge", "-p", patch)
        log(f"grew {volume['metadata']['name']} to {wanted} for {meta['namespace']}/{meta['name']}")
    if is_larger(wanted, claim.get("status", {}).get("capacity", {}).get("storage")):
        patch = json.dumps({"status": {"capacity": {"storage": wanted}}})
        kubectl.run(
            "patch", "persistentvolumeclaim", meta["name"], "-n", meta["namespace"],
            "--subresource=status", "--type=merge", "-p", patch,
        )  # fmt: skip
        log(f"claim {meta['namespace']}/{meta['name']} now reports {wanted}")


def needs_address(item: Manifest, ingress_classes: set[str]) -> bool:
    """An Ingress of one of our classes, or a LoadBalancer Service, without an address yet."""
    if item.get("status", {}).get("loadBalancer", {}).get("ingress"):
        return False
    if item["kind"] == "Ingress":
        return str(item["spec"].get("ingressClassName")) in ingress_classes
    return item["kind"] == "Service" and bool(item["spec"].get("type") == "LoadBalancer")


def report_address(kubectl: Kubectl, item: Manifest) -> None:
    """Set `status.loadBalancer` as an ingress controller or a cloud would."""
    meta = item["metadata"]
    kind = "ingress.networking.k8s.io" if item["kind"] == "Ingress" else "service"
    patch = json.dumps({"status": LOCAL_ADDRESS})
    where = ["-n", meta["namespace"]]
    kubectl.run("patch", kind, meta["name"], *where, "--subresource=status", "--type=merge", "-p", patch)
    log(f"reported 127.0.0.1 for {item['kind']} {meta['namespace']}/{meta['name']}")


def reconcile(kubectl: Kubectl, volumes_dir: Path) -> None:
    """One pass: provision what is missing, grow what was enlarged, give addresses."""
    kinds = (
        "storageclasses.storage.k8s.io,persistentvolumes,persistentvolumeclaims,"
        "ingressclasses.networking.k8s.io,ingresses.networking.k8s.io,services"
    )
    listing = kubectl.run("get", kinds, "--all-namespaces", "-o", "json")
    items: list[Manifest] = json.loads(listing)["items"]
    ingress_classes = {
        item["metadata"]["name"]
        for item in items
        if item["kind"] == "IngressClass" and item["spec"].get("controller") == INGRESS_CONTROLLER
    }
    for item in items:
        if needs_address(item, ingress_classes):
            report_address(kubectl, item)
    classes = our_classes([item for item in items if item["kind"] == "StorageClass"])
    volumes = {item["metadata"]["name"]: item for item in items if item["kind"] == "PersistentVolume"}
    claims = [item for item in items if item["kind"] == "PersistentVolumeClaim"]
    for claim in claims:
        if needs_volume(claim, classes, set(volumes)):
            provision(kubectl, claim, volumes_dir)
    for claim, volume in bound_pairs(claims, volumes, classes):
        grow(kubectl, claim, volume)


def command(python: str, cluster_dir: Path, kubectl: Path, kubeconfig: Path) -> list[str]:
    """The command line that starts this loop for one cluster directory."""
    return [
        python, "-m", "tools.e2e.provisioner", "--dir", str(cluster_dir),
        "--kubectl", str(kubectl), "--kubeconfig", str(kubeconfig),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Reconcile forever, logging each change; survive API server restarts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True, help="volumes go to DIR/volumes")
    parser.add_argument("--kubectl", type=Path, required=True)
    parser.add_argument("--kubeconfig", type=Path, required=True, help="a cluster admin's kubeconfig")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between passes")
    args = parser.parse_args(argv)
    kubectl = Kubectl(args.kubectl, args.kubeconfig)
    volumes_dir = args.dir.resolve() / "volumes"
    log(f"{STARTED}: claims of {PROVISIONER}; volumes in {volumes_dir}")
    last_error = ""
    while True:
        try:
            reconcile(kubectl, volumes_dir)
            last_error = ""
        except (KubectlError, KeyError, ValueError) as error:
            if str(error) != last_error:
                log(f"error: {error}")
            last_error = str(error)
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
