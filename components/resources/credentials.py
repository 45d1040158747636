"""`StackCredentials`: generated passwords, the file realm and Kibana's keys, stable across `pulumi up`.

The values come from `GeneratedPassword` resources, so they live (encrypted) in Pulumi
state and are generated once, unlike Helm charts that regenerate them on upgrade. Each
consumer gets a Secret with only what it needs. Every internal client (probes, the setup
Job, Kibana, Logstash) logs in as a user of the file realm (components/specs/file_realm.py),
whose bcrypt hashes are in one Secret the nodes read: changing `elastic`'s password, the
only user for people, cannot break them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_kubernetes.core.v1 import Secret

from components.configuration import Security, Snapshots
from components.generated import GeneratedPassword, PasswordHash
from components.specs import common, file_realm
from components.specs.clients import ClusterAccess
from components.specs.credentials import KIBANA_KEYS, PASSWORD_KEY, SUPERUSER, USERNAME_KEY

PASSWORD_LENGTH = 32
KEY_LENGTH = 48


@dataclass(frozen=True)
class Login:
    """One client's login: its credentials Secret, what rolls its pods, and the Secrets to wait for."""

    secret_name: str
    revision: pulumi.Output[str]
    secrets: list[Secret]


def _password(parent: pulumi.Resource, name: str, length: int) -> GeneratedPassword:
    """Letters and digits only: nothing to escape in YAML, JSON, URLs or shell."""
    return GeneratedPassword(name, length=length, opts=pulumi.ResourceOptions(parent=parent))


class StackCredentials(pulumi.ComponentResource):
    """The users' passwords, the file realm and Kibana's encryption keys, each in its consumer's Secret."""

    # Names, not the Secrets' outputs: without `kubernetes:enableSecretMutable` (Pulumi.yaml
    # sets it; a stack file may not) pulumi-kubernetes replaces a Secret whose data changes,
    # and a pod template holding that Secret's outputs would be replaced with it, all pods at
    # once. Consumers depend on their
    # Secrets (`secrets_of`) for order instead, as they do on their ConfigMaps.
    elastic_secret_name: str
    kibana_secret_name: str
    logstash_secret_name: str
    probe_secret_name: str
    setup_secret_name: str
    file_realm_secret_name: str
    kibana_keys_secret_name: str
    elastic_password: pulumi.Output[str]
    revisions: dict[str, pulumi.Output[str]]
    """Per consumer: `elastic` (the nodes), `kibana` (password and keys), `logstash` and `setup`."""
    secrets_of: dict[str, list[Secret]]
    """Per consumer, as `revisions`: the Secrets its pods name."""

    def __init__(
        self,
        name: str,
        config: Security,
        *,
        data_streams: Sequence[str],
        snapshots: Snapshots | None = None,
        kibana_keys_secret: str | None = None,
        target: common.Target,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Generate the credentials and write the file realm.

        `data_streams` are the patterns whose settings the setup Job manages; `snapshots`
        what it does with a repository (an SLM policy or a restore needs rights on every index).
        `kibana_keys_secret` names the user's Secret of Kibana's keys, which are then not
        generated: another stack's keys, to decrypt the saved objects restored from it.
        """
        super().__init__("elk-stack:index:StackCredentials", name, None, opts)
        self._name, self._target = name, target
        self._labels = common.labels("elasticsearch", "credentials", target.version)
        self._made: dict[str, Secret] = {}
        self._keys: dict[str, GeneratedPassword] = {}
        # The logical names of the first three predate the file realm: kept, so an existing
        # stack keeps its passwords.
        self._keys_of = {
            SUPERUSER: "elastic",
            file_realm.KIBANA_USER: "kibana",
            config.logstash_user: "logstash",
            file_realm.PROBE_USER: "probe",
            file_realm.SETUP_USER: "setup",
        }
        self._passwords = {
            user: _password(self, f"{name}-{key}", PASSWORD_LENGTH) for user, key in self._keys_of.items()
        }
        self._user_secrets(config)
        self.file_realm_secret_name = self._file_realm_secret(
            config,
            file_realm.roles(
                config.logstash_user, config.logstash_indices, data_streams, snapshots=snapshots
            ),
        )
        self.kibana_keys_secret_name = kibana_keys_secret or self._kibana_keys_secret()
        self.elastic_password = pulumi.Output.secret(self._passwords[SUPERUSER].result)
        self.revisions = self._revisions(config)
        self.secrets_of = self._secrets_by_consumer()
        self.register_outputs(
            {
                "elasticSecretName": self.elastic_secret_name,
                "kibanaSecretName": self.kibana_secret_name,
                "logstashSecretName": self.logstash_secret_name,
                "probeSecretName": self.probe_secret_name,
                "setupSecretName": self.setup_secret_name,
                "fileRealmSecretName": self.file_realm_secret_name,
                "kibanaKeysSecretName": self.kibana_keys_secret_name,
            }
        )

    def _secret(self, logical: str, object_name: str, data: dict[str, pulumi.Input[str]]) -> str:
        """One Opaque Secret of the stack; its name, which consumers name in their pods."""
        self._made[object_name] = Secret(
            logical,
            metadata=common.metadata(object_name, self._target.namespace, self._labels),
            type="Opaque",
            string_data=data,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return object_name

    def _kibana_keys_secret(self) -> str:
        """Generate Kibana's three keys into their Secret; `_keys` stays empty when the user gives them."""
        for setting, key in KIBANA_KEYS.items():
            self._keys[setting] = _password(self, f"{self._name}-{key}", KEY_LENGTH)
        return self._secret(
            f"{self._name}-kibana-keys",
            f"{common.INSTANCE}-kibana-encryption-keys",
            {setting: password.result for setting, password in self._keys.items()},
        )

    def _user_secret(self, user: str) -> str:
        """`<instance>-<purpose>-credentials`: one user's name and password."""
        purpose = self._keys_of[user]
        data: dict[str, pulumi.Input[str]] = {USERNAME_KEY: user, PASSWORD_KEY: self._passwords[user].result}
        return self._secret(f"{self._name}-{purpose}", f"{common.INSTANCE}-{purpose}-credentials", data)

    def _user_secrets(self, config: Security) -> None:
        self.elastic_secret_name = self._user_secret(SUPERUSER)
        self.kibana_secret_name = self._user_secret(file_realm.KIBANA_USER)
        self.logstash_secret_name = self._user_secret(config.logstash_user)
        self.probe_secret_name = self._user_secret(file_realm.PROBE_USER)
        self.setup_secret_name = self._user_secret(file_realm.SETUP_USER)

    def _file_realm_secret(self, config: Security, roles: dict[str, file_realm.Role]) -> str:
        """The file realm's three files: bcrypt hashes (salted once), role assignments, roles."""
        child = pulumi.ResourceOptions(parent=self)
        internal = [user for user in self._passwords if user != SUPERUSER]
        hashes = {
            user: PasswordHash(
                f"{self._name}-{self._keys_of[user]}-hash", password=self._passwords[user].result, opts=child
            )
            for user in internal
        }
        users = pulumi.Output.all(*(h.hash for h in hashes.values())).apply(
            lambda values: file_realm.users_file(dict(zip(hashes, values, strict=True)))
        )
        return self._secret(
            f"{self._name}-file-realm",
            f"{common.INSTANCE}-elasticsearch-file-realm",
            {
                file_realm.USERS_FILE: users,
                file_realm.USERS_ROLES_FILE: file_realm.users_roles_file(
                    file_realm.user_roles(config.logstash_user)
                ),
                file_realm.ROLES_FILE: file_realm.roles_file(roles),
            },
        )

    def _revision(self, *users: str, extra: Sequence[pulumi.Output[str]] = ()) -> pulumi.Output[str]:
        """A digest that changes whenever these users' passwords (or `extra`) do.

        In a pod template it restarts the pods that read them at start. A digest of 190
        random bits reveals nothing, so it need not be secret. The nodes re-read the file
        realm by themselves.
        """
        values = [*(self._passwords[user].result for user in users), *extra]
        return pulumi.Output.unsecret(
            pulumi.Output.all(*values).apply(lambda parts: common.digest(*users, *parts))
        )

    def _revisions(self, config: Security) -> dict[str, pulumi.Output[str]]:
        return {
            "elastic": self._revision(SUPERUSER, file_realm.PROBE_USER),
            "kibana": self._revision(
                file_realm.KIBANA_USER, extra=[key.result for key in self._keys.values()]
            ),
            # The Logstash user's name is configurable: a rename rolls Logstash as a new password does.
            "logstash": self._revision(config.logstash_user),
            "setup": self._revision(file_realm.SETUP_USER),
        }

    def _secrets_by_consumer(self) -> dict[str, list[Secret]]:
        names = {
            "elastic": [self.elastic_secret_name, self.probe_secret_name, self.file_realm_secret_name],
            "kibana": [self.kibana_secret_name, self.kibana_keys_secret_name],
            "logstash": [self.logstash_secret_name],
            "setup": [self.setup_secret_name],
        }
        # The user's own Secret of Kibana's keys is not made here: nothing to wait for.
        return {
            consumer: [self._made[secret] for secret in secrets if secret in self._made]
            for consumer, secrets in names.items()
        }

    def node_logins(self) -> dict[str, Any]:
        """What every Elasticsearch node reads, as `ClusterWiring` fields.

        `elastic`'s bootstrap password, the readiness probe's login, the file realm, and the
        revision that rolls the nodes when the first two change.
        """
        return {
            "superuser_secret": self.elastic_secret_name,
            "probe_secret": self.probe_secret_name,
            "file_realm_secret": self.file_realm_secret_name,
            "credentials_revision": self.revisions["elastic"],
        }

    def login(self, consumer: str) -> Login:
        """What one client (`setup`, `logstash`, `kibana`) logs in with."""
        secret = {
            "kibana": self.kibana_secret_name,
            "logstash": self.logstash_secret_name,
            "setup": self.setup_secret_name,
        }[consumer]
        return Login(secret, self.revisions[consumer], self.secrets_of[consumer])


def login_of(credentials: StackCredentials | None, consumer: str) -> Login | None:
    """A client's login, or None when security is off."""
    return credentials.login(consumer) if credentials is not None else None


def logged_in(access: ClusterAccess, login: Login | None) -> ClusterAccess:
    """The cluster's access as the client of `login` sees it (unchanged without security)."""
    return access.logged_in(login.secret_name, login.revision) if login is not None else access


def login_secrets(login: Login | None) -> list[Secret]:
    """The Secrets a client's pods name, which it must be created after."""
    return login.secrets if login is not None else []


def secrets_for(credentials: StackCredentials | None, consumer: str) -> list[Secret]:
    """The Secrets a consumer's pods name (`StackCredentials.secrets_of`); none without security."""
    return credentials.secrets_of[consumer] if credentials else []
