"""The snapshot repositories and restores the tests configure, and the stack files' commented examples."""

from __future__ import annotations

from typing import Any

import yaml

from tools.render import PROJECT_DIR

S3 = {
    "type": "s3",
    "bucket": "elk-backups",
    "basePath": "qa",
    "credentialsSecret": "elk-snapshot-credentials",
}
FS: dict[str, Any] = {"type": "fs", "storage": {"size": "100Gi", "storageClass": "nfs"}}

NODE_SETS = [
    {"name": "master", "replicas": 3, "roles": ["master"]},
    {"name": "data", "replicas": 2, "roles": ["data", "ingest"]},
]


def snapshots(**keys: Any) -> dict[str, Any]:
    return {"elasticsearch": {"snapshots": keys}}


def commented_snapshots_example(stack_file: str) -> dict[str, Any]:
    """The commented `snapshots:` block of a stack file, uncommented and read."""
    lines = (PROJECT_DIR / stack_file).read_text().splitlines()
    start = lines.index("    # snapshots:")
    block = []
    for line in lines[start:]:
        if not line.startswith("    #"):
            break
        block.append(line.replace("    # ", "    ", 1))
    example: dict[str, Any] = yaml.safe_load("\n".join(block))["snapshots"]
    return example


# A test stack restores from QA's repository, which it only reads.
RESTORE_S3 = {"type": "s3", "bucket": "elk-backups", "basePath": "qa", "credentialsSecret": "elk-qa-read"}
READ_QA = {**RESTORE_S3, "readonly": True}


def restoring(restore_from: Any, repository: dict[str, Any] | None = None) -> dict[str, Any]:
    snapshots = {"repository": repository or READ_QA, "restoreFrom": restore_from}
    return {"elasticsearch": {"snapshots": snapshots}}
