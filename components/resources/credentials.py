"""`StackCredentials`: generated passwords, the file realm and Kibana's keys, stable across `pulumi up`.

The values come from `GeneratedPassword` resources, so they live (encrypted) in Pulumi
state and are generated once, unlike Helm charts that regenerate them on upgrade. Each
consumer gets a Secret with only what it needs. Every internal client (probes, the setup
Job, Kibana, Logstash) logs in as a user of the file realm (`components/file_realm.py`),
whose bcrypt hashes are in one Secret the nodes read: changing `elastic`'s password, the
only user for people, cannot break them.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
from pulumi_kubernetes.core.v1 import Secret

from components.configuration import Security, Snapshots
from components.generated import GeneratedPassword, PasswordHash
from components.specs import common, file_realm

USERNAME_KEY = "username"
PASSWORD_KEY = "password"
SUPERUSER = "elastic"
# Kibana's three keys must each be 32+ characters and never change, or encrypted saved
# objects, alerts and reports become unreadable.
KIBANA_KEYS = {
    "xpack.security.encryptionKey": "security-key",
    "xpack.encryptedSavedObjects.encryptionKey": "saved-objects-key",
    "xpack.reporting.encryptionKey": "reporting-key",
}
NAMES = common.Names("credentials")


def _password(parent: pulumi.Resource, name: str, length: int) -> GeneratedPassword:
    """Letters and digits only: nothing to escape in YAML, JSON, URLs or shell."""
    return GeneratedPassword(name, length=length, opts=pulumi.ResourceOptions(parent=parent))


class StackCredentials(pulumi.ComponentResource):
    """The users' passwords, the file realm and Kibana's encryption keys, each in its consumer's Secret."""

    # Names, not the Secrets' outputs: pulumi-kubernetes replaces a Secret whose data changes
    # (deleting it first, as its name is fixed), and a pod template holding that Secret's
    # outputs would then be replaced with it, all pods at once. Consumers depend on their
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
        target: common.Target,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Generate the credentials and write the file realm.

        `data_streams` are the patterns whose settings the setup Job manages; `snapshots`
        what it does with a repository (an SLM policy or a restore needs rights on every index).
        """
        super().__init__("elk-stack:index:StackCredentials", name, None, opts)
        labels = common.labels("elasticsearch", "credentials", target.version)
        child = pulumi.ResourceOptions(parent=self)
        # The logical names of the first three predate the file realm: kept, so an existing
        # stack keeps its passwords.
        keys_of = {
            SUPERUSER: "elastic",
            file_realm.KIBANA_USER: "kibana",
            config.logstash_user: "logstash",
            file_realm.PROBE_USER: "probe",
            file_realm.SETUP_USER: "setup",
        }
        passwords = {user: _password(self, f"{name}-{key}", 32) for user, key in keys_of.items()}
        internal = [user for user in passwords if user != SUPERUSER]
        hashes = {
            user: PasswordHash(f"{name}-{keys_of[user]}-hash", password=passwords[user].result, opts=child)
            for user in internal
        }
        keys = {setting: _password(self, f"{name}-{key}", 48) for setting, key in KIBANA_KEYS.items()}

        made: dict[str, Secret] = {}

        def secret(logical: str, object_name: str, data: dict[str, pulumi.Input[str]]) -> str:
            made[object_name] = Secret(
                logical,
                metadata=common.metadata(object_name, target.namespace, labels),
                type="Opaque",
                string_data=data,
                opts=child,
            )
            return object_name

        def user_secret(user: str) -> str:
            purpose = keys_of[user]
            data: dict[str, pulumi.Input[str]] = {USERNAME_KEY: user, PASSWORD_KEY: passwords[user].result}
            return secret(f"{name}-{purpose}", f"{common.INSTANCE}-{purpose}-credentials", data)

        self.elastic_secret_name = user_secret(SUPERUSER)
        self.kibana_secret_name = user_secret(file_realm.KIBANA_USER)
        self.logstash_secret_name = user_secret(config.logstash_user)
        self.probe_secret_name = user_secret(file_realm.PROBE_USER)
        self.setup_secret_name = user_secret(file_realm.SETUP_USER)
        assignments = file_realm.user_roles(config.logstash_user)
        role_definitions = file_realm.roles(
            config.logstash_user, config.logstash_indices, data_streams, snapshots=snapshots
        )
        self.file_realm_secret_name = secret(
            f"{name}-file-realm",
            f"{common.INSTANCE}-elasticsearch-file-realm",
            {
                file_realm.USERS_FILE: pulumi.Output.all(*(h.hash for h in hashes.values())).apply(
                    lambda values: file_realm.users_file(dict(zip(hashes, values, strict=True)))
                ),
                file_realm.USERS_ROLES_FILE: file_realm.users_roles_file(assignments),
                file_realm.ROLES_FILE: file_realm.roles_file(role_definitions),
            },
        )
        self.kibana_keys_secret_name = secret(
            f"{name}-kibana-keys",
            f"{common.INSTANCE}-kibana-encryption-keys",
            {setting: password.result for setting, password in keys.items()},
        )
        self.elastic_password = pulumi.Output.secret(passwords[SUPERUSER].result)

        # Digests that change whenever a consumer's credentials do: in a pod template they
        # restart the pods that read them at start. A digest of 190 random bits reveals
        # nothing, so it need not be secret. The nodes re-read the file realm by themselves.
        def revision(*users: str, extra: Sequence[pulumi.Output[str]] = ()) -> pulumi.Output[str]:
            values = [*(passwords[user].result for user in users), *extra]
            return pulumi.Output.unsecret(
                pulumi.Output.all(*values).apply(lambda parts: common.digest(*users, *parts))
            )

        self.revisions = {
            "elastic": revision(SUPERUSER, file_realm.PROBE_USER),
            "kibana": revision(file_realm.KIBANA_USER, extra=[key.result for key in keys.values()]),
            # The Logstash user's name is configurable: a rename rolls Logstash as a new password does.
            "logstash": revision(config.logstash_user),
            "setup": revision(file_realm.SETUP_USER),
        }
        self.secrets_of = {
            consumer: [made[secret_name] for secret_name in secret_names]
            for consumer, secret_names in {
                "elastic": [self.elastic_secret_name, self.probe_secret_name, self.file_realm_secret_name],
                "kibana": [self.kibana_secret_name, self.kibana_keys_secret_name],
                "logstash": [self.logstash_secret_name],
                "setup": [self.setup_secret_name],
            }.items()
        }
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


def secrets_for(credentials: StackCredentials | None, consumer: str) -> list[Secret]:
    """The Secrets a consumer's pods name (`StackCredentials.secrets_of`); none without security."""
    return credentials.secrets_of[consumer] if credentials else []
