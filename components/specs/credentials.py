"""What the stack's credentials Secrets hold, by key, for the pods that read them."""

from __future__ import annotations

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
