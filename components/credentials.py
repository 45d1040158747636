"""`StackCredentials`: generated passwords and Kibana keys, stable across every `pulumi up`.

The values come from `GeneratedPassword` resources, so they live (encrypted) in Pulumi
state and are generated once, unlike Helm charts that regenerate them on upgrade. Each
consumer gets a Secret with only what it needs: Logstash never sees the superuser's
password, and Kibana connects as `kibana_system`.
"""

from __future__ import annotations

import pulumi
from pulumi_kubernetes.core.v1 import Secret

from components import common
from components.config import Security
from components.generated import GeneratedPassword

USERNAME_KEY = "username"
PASSWORD_KEY = "password"
SUPERUSER = "elastic"
KIBANA_USER = "kibana_system"
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
    """The users' passwords and Kibana's encryption keys, each in its consumer's Secret."""

    elastic_secret_name: pulumi.Output[str]
    kibana_secret_name: pulumi.Output[str]
    logstash_secret_name: pulumi.Output[str]
    kibana_keys_secret_name: pulumi.Output[str]
    elastic_password: pulumi.Output[str]
    revision: pulumi.Output[str]
    revisions: dict[str, pulumi.Output[str]]
    """Per consumer: `elastic`, `kibana` (password and keys) and `logstash`."""

    def __init__(
        self,
        name: str,
        config: Security,
        *,
        target: common.Target,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("elk-stack:index:StackCredentials", name, None, opts)
        labels = common.labels("elasticsearch", "credentials", target.version)
        passwords = {
            user: _password(self, f"{name}-{key}", 32)
            for user, key in (
                (SUPERUSER, "elastic"),
                (KIBANA_USER, "kibana"),
                (config.logstash_user, "logstash"),
            )
        }
        keys = {setting: _password(self, f"{name}-{key}", 48) for setting, key in KIBANA_KEYS.items()}

        def secret(logical: str, object_name: str, data: dict[str, pulumi.Input[str]]) -> Secret:
            return Secret(
                logical,
                metadata=common.metadata(object_name, target.namespace, labels),
                type="Opaque",
                string_data=data,
                opts=pulumi.ResourceOptions(parent=self),
            )

        def user_secret(user: str, purpose: str) -> Secret:
            data: dict[str, pulumi.Input[str]] = {USERNAME_KEY: user, PASSWORD_KEY: passwords[user].result}
            return secret(f"{name}-{purpose}", f"{common.INSTANCE}-{purpose}-credentials", data)

        self.elastic_secret_name = user_secret(SUPERUSER, "elastic").metadata.name
        self.kibana_secret_name = user_secret(KIBANA_USER, "kibana").metadata.name
        self.logstash_secret_name = user_secret(config.logstash_user, "logstash").metadata.name
        self.kibana_keys_secret_name = secret(
            f"{name}-kibana-keys",
            f"{common.INSTANCE}-kibana-encryption-keys",
            {setting: password.result for setting, password in keys.items()},
        ).metadata.name
        self.elastic_password = pulumi.Output.secret(passwords[SUPERUSER].result)
        # Digests that change whenever a password does: in a pod template they restart the
        # pod that uses it, and re-run the setup Job that applies it. A digest of 190
        # random bits reveals nothing, so it need not be secret.
        purposes = {"elastic": SUPERUSER, "kibana": KIBANA_USER, "logstash": config.logstash_user}
        self.revisions = {
            purpose: pulumi.Output.unsecret(passwords[user].result.apply(common.digest))
            for purpose, user in purposes.items()
        }
        # The setup Job applies the passwords, not Kibana's keys: a new key must not re-run it.
        # (It takes the Logstash user's name as a literal, which replaces it by itself.)
        self.revision = pulumi.Output.all(*self.revisions.values()).apply(lambda v: common.digest(*v))
        # The Logstash user's name is configurable and read from its Secret at start, so a
        # rename must roll Logstash as a new password does.
        self.revisions["logstash"] = pulumi.Output.unsecret(
            passwords[config.logstash_user].result.apply(
                lambda password: common.digest(config.logstash_user, password)
            )
        )
        self.revisions["kibana"] = pulumi.Output.unsecret(
            pulumi.Output.all(passwords[KIBANA_USER].result, *(key.result for key in keys.values())).apply(
                lambda values: common.digest(*values)
            )
        )
        self.register_outputs(
            {
                "elasticSecretName": self.elastic_secret_name,
                "kibanaSecretName": self.kibana_secret_name,
                "logstashSecretName": self.logstash_secret_name,
                "kibanaKeysSecretName": self.kibana_keys_secret_name,
            }
        )
