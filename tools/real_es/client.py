"""HTTPS to a node by its cluster name: connect to the mapped address, check TLS against the name.

Like curl's `--connect-to`: the URL keeps the Service or pod name the render uses, the TCP
connection goes to the address `network.AddressMap` gave that name, and the certificate is
verified against the name in the URL with the stack's CA.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tools.real_es.network import AddressMap


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: its status, and its body as JSON where it is JSON, else as text."""

    status: int
    body: Any
    text: str


class _MappedConnection(http.client.HTTPSConnection):
    """Connects to `address`, presents and verifies the URL's host name."""

    def __init__(self, host: str, port: int, address: str, context: ssl.SSLContext, timeout: float) -> None:
        super().__init__(host, port, context=context, timeout=timeout)
        self._address = address
        self._context = context

    def connect(self) -> None:
        """TCP to the mapped address, TLS for the original name."""
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


@dataclass
class Client:
    """Requests to the rendered cluster as one user, over the stack's TLS."""

    addresses: AddressMap
    ca_pem: str
    user: str | None = None
    password: str | None = None
    timeout: float = 60

    def as_user(self, user: str, password: str) -> Client:
        """The same client, logged in as another user."""
        return Client(self.addresses, self.ca_pem, user, password, self.timeout)

    def request(self, method: str, url: str, body: Any = None, *, ndjson: bool = False) -> Answer:
        """One request; a dict or list body is sent as JSON (or as NDJSON lines for `_bulk`)."""
        parts = urlsplit(url)
        context = ssl.create_default_context(cadata=self.ca_pem)
        host = parts.hostname or ""
        connection = _MappedConnection(
            host, parts.port or 443, self.addresses.resolve(host), context, self.timeout
        )
        headers = {"Content-Type": "application/x-ndjson" if ndjson else "application/json"}
        if self.user is not None:
            token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        if ndjson:
            payload: bytes | None = "".join(json.dumps(line) + "\n" for line in body).encode()
        else:
            payload = (
                None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
            )
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            text = response.read().decode(errors="replace")
        finally:
            connection.close()
        try:
            parsed: Any = json.loads(text) if text else None
        except json.JSONDecodeError:
            parsed = None
        return Answer(response.status, parsed, text)
