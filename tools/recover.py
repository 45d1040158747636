"""`make recover`: finish what a killed `pulumi up` left, and converge.

A `pulumi up` killed outright (SIGKILL, a CI job cancelled, a machine gone) leaves the
stack locked, and the operations it had begun recorded as pending in the state. Pulumi
then asks for a decision: the next `up` stops at the lock, and after `pulumi cancel` every
later `up` warns of the pending operations, which only an interactive `pulumi refresh`
clears. This runs the three steps that decide them safely:

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


def main(argv: list[str] | None = None) -> int:
    """Release the lock, deploy, and clear the pending operations once the deploy succeeded."""
    args, flags = stack_arguments("tools.recover", __doc__ or "", argv)
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
