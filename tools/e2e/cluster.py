"""A real Kubernetes control plane on 127.0.0.1, for running the real Pulumi engine offline.

    python -m tools.e2e.cluster {up,down,namespace NAME,status} [--dir DIR]

etcd, kube-apiserver, kube-controller-manager and kube-scheduler are the real binaries
(built by `tools.e2e.build`), so admission (PodSecurity, ResourceQuota, LimitRanger), RBAC,
the scheduler and every controller behave as on a real cluster. Only the nodes are fake:
kwok plays three kubelets in three zones, turning scheduled pods Ready, Job pods
Succeeded and deleted pods gone, without containers. No container runtime, no root, no
images: the whole cluster starts in seconds and fits a laptop or a CI runner.

Nothing provisions volumes without a CSI driver, so `up` also starts a small loop
(`tools.e2e.provisioner`) that plays the external provisioner and resizer for our
StorageClasses. Ports are picked free at the first `up` and recorded in DIR, so any number
of clusters (a developer's in build/cluster, the e2e suite's in its own directory) can run
side by side; each process's PID and command line are recorded too, so `down` stops
exactly what `up` started. `namespace NAME` hands out a namespace as a cluster admin
would: restricted Pod Security, a quota, default limits, and a user who is admin there
and nothing anywhere else.

The parts: `layout` (the cluster directory, its ports, the health checks), `pki`
(certificates and kubeconfigs), `processes` (starting and stopping each component),
`control_plane` (`up`, `down`, `status`) and `namespaces` (`namespace NAME`); this module
is the command line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.e2e import pki
from tools.e2e.control_plane import down, status, up
from tools.e2e.layout import DEFAULT_DIR, ClusterError, Layout
from tools.e2e.namespaces import namespace
from tools.e2e.provisioner import KubectlError

# --- Command line -------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; --dir is accepted before or after the command."""
    parser = argparse.ArgumentParser(prog="python -m tools.e2e.cluster", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="default: build/cluster")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start the cluster (or whatever part of it is not running)")
    stop_parser = commands.add_parser("down", help="stop every process `up` started")
    stop_parser.add_argument("--purge", action="store_true", help="also delete the cluster directory")
    namespace_parser = commands.add_parser("namespace", help="a pre-allocated namespace and its user")
    namespace_parser.add_argument("name")
    namespace_parser.add_argument(
        "--quota", action="append", default=[], metavar="KEY=VALUE", help="override a quota entry"
    )
    commands.add_parser("status", help="which components run, how many nodes are Ready")
    for sub in commands.choices.values():
        sub.add_argument("--dir", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run one command; errors are one line on stderr and exit status 1."""
    args = parse_args(argv)
    layout = Layout(args.dir.resolve())
    try:
        if args.command == "up":
            up(layout)
        elif args.command == "down":
            down(layout, args.purge)
        elif args.command == "namespace":
            namespace(layout, args.name, args.quota)
        else:
            return status(layout)
    except (ClusterError, KubectlError, pki.PkiError) as error:
        print(f"cluster {args.command}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"cluster {args.command}: interrupted; `down` stops whatever was started", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
