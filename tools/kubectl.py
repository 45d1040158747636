"""Reading the namespace with `kubectl`, as the namespace's user, for `make up`'s checks and explanations.

`kubectl` uses the same kubeconfig as the Kubernetes provider (KUBECONFIG, or
~/.kube/config), so what it may read is what the deploy may touch.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any


def kubectl_json(namespace: str, *args: str) -> dict[str, Any] | str:
    """`kubectl get ... -o json` in the namespace, or why it could not be read."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return "kubectl is not on PATH, so the namespace cannot be read"
    read = subprocess.run(
        [kubectl, "get", *args, "--namespace", namespace, "--output", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if read.returncode != 0:
        return f"`kubectl get {' '.join(args)}` failed: {' '.join(read.stderr.strip().splitlines()[-1:])}"
    return json.loads(read.stdout)  # type: ignore[no-any-return]
