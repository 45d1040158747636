"""`make recover`: finish what a killed `pulumi up` left, and converge.

A `pulumi up` killed outright (SIGKILL, a CI job cancelled, a machine gone) leaves the
stack locked, and the operations it had begun recorded as pending in the state. Pulumi
then asks for a decision: the next `up` stops at the lock, and after `pulumi cancel` every
later `up` warns of the pending operations, which only an interactive `pulumi refresh`
clears. This runs the steps that decide them safely:

0. with a file:// state backend, it removes the state file's attributes sidecar
   (`<stack>.json.attrs`) if the kill left it empty: the blob store truncates and then
   rewrites it before each checkpoint, and an empty one makes every later command fail
   with `failed to load checkpoint: EOF` (the checkpoint itself is replaced atomically,
   so it is whole, and a missing sidecar reads as no attributes);
1. `pulumi cancel` releases the lock (only run it when no other `up` of the stack runs);
2. `make up`'s deploy (tools/up.py), without its check for objects outside the state: the
   killed run may have made objects its state never recorded. It creates what the killed
   run had begun again; an object that run had created is applied again (forced) and so
   adopted, not duplicated;
3. `pulumi refresh --clear-pending-creates`, once everything is deployed: every object the
   pending creates named is then in the state, so clearing them loses nothing.

    python -m tools.recover <stack> [--cwd <project>] [pulumi up flags...]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tools import up
from tools.stack_command import exported_state, stack_arguments


def pulumi(stack: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One `pulumi` command on the stack, its output captured."""
    command = ["pulumi", *args, "--stack", stack, "--non-interactive"]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)


def pending_count(state: dict[str, Any]) -> int:
    """How many operations an exported state (`pulumi stack export`) holds as pending."""
    return len((state.get("deployment") or {}).get("pending_operations") or [])


def file_backend(cwd: Path) -> Path | None:
    """The directory of the stack's file:// state backend (`pulumi whoami`); None for any other."""
    shown = subprocess.run(
        ["pulumi", "whoami", "--json"], cwd=cwd, capture_output=True, text=True, check=False
    )
    try:
        url = str(json.loads(shown.stdout).get("url", ""))
    except json.JSONDecodeError:
        return None
    if not url.startswith("file://"):
        return None
    return Path(os.path.expanduser(url.removeprefix("file://").split("?", 1)[0]))


def empty_sidecars(root: Path, stack: str) -> list[Path]:
    """The stack's state sidecars (`<stack>.json[.gz|.zst][.bak].attrs`) that a kill left empty.

    Project-scoped stacks live under `.pulumi/stacks/<project>/`, older ones directly in
    `.pulumi/stacks/` (pulumi's backend/diy/store.go).
    """
    name, stacks = stack.rsplit("/", 1)[-1], root / ".pulumi" / "stacks"
    found = [*stacks.glob(f"*/{name}.json*.attrs"), *stacks.glob(f"{name}.json*.attrs")]
    return [path for path in found if path.stat().st_size == 0]


def mend_state_sidecars(stack: str, cwd: Path) -> None:
    """Remove the empty sidecars a kill left, saying so; nothing else is touched."""
    root = file_backend(cwd)
    for sidecar in empty_sidecars(root, stack) if root is not None else []:
        sidecar.unlink()
        print(f"make recover: removed {sidecar}, which the killed run left empty", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Mend the state's sidecars, release the lock, deploy, and clear the pending operations."""
    args, flags = stack_arguments("tools.recover", __doc__ or "", argv)
    mend_state_sidecars(args.stack, args.cwd)
    cancelled = pulumi(args.stack, args.cwd, "cancel", "--yes")
    print(f"make recover: pulumi cancel: {(cancelled.stdout + cancelled.stderr).strip()}", file=sys.stderr)
    deployed = up.main([args.stack, "--cwd", str(args.cwd), *flags], ownership=False)
    if deployed != 0:
        return deployed
    state = exported_state(args.stack, args.cwd)
    pending = pending_count(state) if isinstance(state, dict) else 0
    if pending:
        refreshed = pulumi(
            args.stack, args.cwd, "refresh", "--yes", "--clear-pending-creates", "--skip-preview"
        )
        if refreshed.returncode != 0:
            print(refreshed.stdout[-2000:] + refreshed.stderr, file=sys.stderr)
            return refreshed.returncode
        print(f"make recover: cleared {pending} pending operations the killed run left", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
