"""The stack's internal users, in Elasticsearch's file realm: no API call can change them.

Probes, the setup Job, Kibana and Logstash log in as users defined in three files every node
reads from its config directory (`users`, `users_roles`, `roles.yml`), as ECK does. A user
who changes `elastic`'s password through Kibana or the API changes nothing these clients
rely on; only the file, that is the stack's Secret, can. The file realm comes before the
native realm in Elasticsearch's default realm chain, and a role in `roles.yml` wins over a
native role of the same name.
(elastic.co/docs/deploy-manage/users-roles/cluster-or-deployment-auth/file-based)

Each role has what its user's requests need, and nothing else; docs/security.md says why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.configuration import Snapshots
from components.specs import common

USERS_FILE = "users"
USERS_ROLES_FILE = "users_roles"
ROLES_FILE = "roles.yml"
FILES = (USERS_FILE, USERS_ROLES_FILE, ROLES_FILE)

PROBE_USER = "elk-stack-probe"
SETUP_USER = "elk-stack-setup"
KIBANA_USER = "elk-stack-kibana"
INTERNAL_USERS = (PROBE_USER, SETUP_USER, KIBANA_USER)
# Roles with an underscore: a DNS label (security.logstashUser, whose role has its name)
# can never be one of them.
PROBE_ROLE = "elk_stack_probe"
SETUP_ROLE = "elk_stack_setup"
# Elastic's built-in role for Kibana's own connection.
KIBANA_ROLE = "kibana_system"


@dataclass(frozen=True)
class Role:
    """A role of `roles.yml`: cluster privileges and index privileges on patterns."""

    cluster: tuple[str, ...]
    indices: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()
    """(patterns, privileges) pairs."""

    def definition(self) -> dict[str, Any]:
        """The role as Elasticsearch's role descriptor."""
        result: dict[str, Any] = {"cluster": list(self.cluster)}
        if self.indices:
            result["indices"] = [
                {"names": list(names), "privileges": list(privileges)} for names, privileges in self.indices
            ]
        return result


SHUTDOWN_ACTIONS = tuple(f"cluster:admin/shutdown/{verb}" for verb in ("create", "get", "delete"))


def probe_role() -> Role:
    """The node's own scripts: the readiness probe and the restart bracket of the preStop hook.

    `monitor` for `GET /_cluster/health` and the settings it reads; the one action that
    sets `cluster.routing.allocation.enable` (never `manage`), the node shutdown API's three
    actions (register, read and clear a restart), and `POST /_flush`.
    """
    return Role(
        cluster=("monitor", "cluster:admin/settings/update", *SHUTDOWN_ACTIONS),
        indices=((ALL_INDICES, ("indices:admin/flush*",)),),
    )


# What the setup Job's and the snapshot Job's requests need (docs/security.md has the list,
# request by request). `manage` registers, verifies and removes the snapshot repository
# (Elastic has no narrower privilege for that); the Job checks for a repository and an SLM
# policy left by an earlier config on every run, so these are granted with or without one.
# Not `manage_security`, which can create users and grant any role (a second superuser):
# only the four actions that find and delete the native users and roles earlier versions
# of the stack created, which can grant nothing.
SECURITY_CLEANUP_ACTIONS = tuple(
    f"cluster:admin/xpack/security/{kind}/{verb}" for kind in ("user", "role") for verb in ("get", "delete")
)
SETUP_CLUSTER_PRIVILEGES = (
    "monitor",
    "manage",
    "manage_ilm",
    "manage_index_templates",
    "manage_slm",
    "create_snapshot",
    *SECURITY_CLEANUP_ACTIONS,
)
# SLM takes its snapshots as the user who wrote the policy, and writing one needs `manage`
# on the indices it covers: all of them (components/snapshots.py). A restore
# (restoreFrom) first checks that the cluster holds no index at all, and an index the
# user may not see is left out of the answer.
ALL_INDICES = ("*",)


def setup_role(data_streams: Sequence[str], snapshots: Snapshots | None = None) -> Role:
    """The setup Job's role; rights on every index when it installs an SLM policy or restores."""
    indices: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ((tuple(data_streams), ("manage",)),)
    if snapshots is not None and snapshots.takes_snapshots:
        indices += ((ALL_INDICES, ("manage",)),)
    elif snapshots is not None and snapshots.restore_from is not None:
        indices += ((ALL_INDICES, ("view_index_metadata",)),)
    return Role(cluster=SETUP_CLUSTER_PRIVILEGES, indices=indices)


def logstash_role(indices: Sequence[str]) -> Role:
    """Create documents (and the data streams they go to) in the configured patterns only."""
    return Role(cluster=("monitor",), indices=((tuple(indices), ("create_doc", "auto_configure")),))


def roles(
    logstash_user: str,
    logstash_indices: Sequence[str],
    data_streams: Sequence[str],
    *,
    snapshots: Snapshots | None = None,
) -> dict[str, Role]:
    """Every role the file realm defines; the Logstash user's role has the user's name."""
    return {
        PROBE_ROLE: probe_role(),
        SETUP_ROLE: setup_role(data_streams, snapshots),
        logstash_user: logstash_role(logstash_indices),
    }


def user_roles(logstash_user: str) -> dict[str, str]:
    """Each internal user's one role."""
    return {
        PROBE_USER: PROBE_ROLE,
        SETUP_USER: SETUP_ROLE,
        KIBANA_USER: KIBANA_ROLE,
        logstash_user: logstash_user,
    }


def users_file(hashes: Mapping[str, str]) -> str:
    """`users`: one `name:hash` line per user, in a stable order."""
    return "".join(f"{user}:{hashes[user]}\n" for user in sorted(hashes))


def users_roles_file(assignments: Mapping[str, str]) -> str:
    """`users_roles`: one `role:user,user` line per role, in a stable order."""
    members: dict[str, list[str]] = {}
    for user, role in assignments.items():
        members.setdefault(role, []).append(user)
    return "".join(f"{role}:{','.join(sorted(users))}\n" for role, users in sorted(members.items()))


def roles_file(definitions: Mapping[str, Role]) -> str:
    """`roles.yml` in block YAML, one top-level key per role.

    Elasticsearch's FileRolesStore does not read the file as one YAML document: it splits
    it into roles at each line that starts a top-level key, then parses each piece. JSON is
    valid YAML, but its roles start indented after a `{`, so the node parsed only the first
    (the real-Elasticsearch tier, tests/real, is the test of this file).
    """
    body = {name: role.definition() for name, role in sorted(definitions.items())}
    return common.settings_yaml(body)
