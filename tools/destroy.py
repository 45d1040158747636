"""`make destroy`: `pulumi destroy`, and where protected claims stop it, this project's way on.

Pulumi's own refusal suggests removing `protect` from the program and running `pulumi up`.
Here `protect` comes from the stack file (`storage.protect`), and turning it off there
changes every later deploy of the stack, not only this teardown. The documented step
(docs/operations.md#data-protection) unprotects each claim by URN for this once; this tool
names those URNs from the stack's state, so the user copies commands instead of hunting
for them.

    python -m tools.destroy <stack> [--cwd <project>] [pulumi destroy flags...]
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from tools.stack_command import exported_state, stack_arguments

DOCUMENTED_AT = "docs/operations.md#data-protection"


def protected_urns(state: dict[str, Any]) -> list[str]:
    """The URNs of the resources the exported state (`pulumi stack export`) holds protected."""
    resources = state.get("deployment", {}).get("resources") or []
    return sorted(resource["urn"] for resource in resources if resource.get("protect"))


def unprotect_hint(stack: str, urns: list[str]) -> str:
    """What to run when protected claims stop a destroy: one `pulumi state unprotect` per URN."""
    commands = "\n".join(f"  pulumi state unprotect --stack {stack} '{urn}'" for urn in urns)
    return (
        f"make destroy: pulumi destroy stopped at {len(urns)} protected resources (the data claims, "
        "`storage.protect` in the stack file). To tear the stack down anyway, unprotect them for "
        f"this once and run make destroy again; the claims then leave the state but stay in the "
        f"namespace with their data ({DOCUMENTED_AT}, which also says how to delete the data):\n"
        f"{commands}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run `pulumi destroy`; after a failure, print the unprotect commands if protection caused it."""
    args, flags = stack_arguments("tools.destroy", __doc__ or "", argv)
    destroyed = subprocess.run(
        ["pulumi", "destroy", "--stack", args.stack, *flags], cwd=args.cwd, check=False
    )
    if destroyed.returncode == 0:
        return 0
    state = exported_state(args.stack, args.cwd)
    urns = protected_urns(state) if isinstance(state, dict) else []
    if urns:
        print(unprotect_hint(args.stack, urns), file=sys.stderr)
    return destroyed.returncode


if __name__ == "__main__":
    sys.exit(main())
