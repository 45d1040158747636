"""What the test distribution lacks, answered beside the real node, and every such answer listed.

The setup Job asks for ILM and SLM (absent from Elastic's test distribution), sets
`index.lifecycle.*` settings (refused there as unknown) and composes Elastic's built-in
`logs@*`/`ecs@mappings` templates (not installed there). A TLS proxy takes the Job's place
in front of the node (presenting the node's own certificate, so the Job still checks TLS
against the Service's name):
- `/_ilm/...` and `/_slm/...` are answered by the fake Elasticsearch (tests/fake_elasticsearch/);
- `index.lifecycle.*` keys are taken out of a request body, and the rest goes to the node;
- everything else goes to the real node unchanged, with the Job's own credentials.
Each diverted request, each removed key and each stand-in template is recorded in
`UNPROVEN`, which the tier prints at the end: what those requests do stays unproven here.
"""

from __future__ import annotations

import http.client
import http.server
import json
import socket
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fake_elasticsearch import FakeElasticsearch, serve
from tools.real_es.stack import RealStack

# Elastic's built-in component templates the stack's index template composes; absent here.
BUILT_IN_TEMPLATES = ("logs@mappings", "logs@settings", "ecs@mappings")
DIVERTED = {"/_ilm/": "no ILM module", "/_slm/": "no SLM module"}
LIFECYCLE = "index.lifecycle."
UNPROVEN: list[str] = []


def note(line: str) -> None:
    """Record something the tier did not prove on the real node (printed once at the end)."""
    if line not in UNPROVEN:
        UNPROVEN.append(line)


def strip_lifecycle(body: Any) -> tuple[Any, list[str]]:
    """`body` without its `index.lifecycle.*` settings (at any depth), and the keys removed."""
    removed: list[str] = []

    def walk(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        removed.extend(key for key in value if key.startswith(LIFECYCLE))
        return {key: walk(inner) for key, inner in value.items() if not key.startswith(LIFECYCLE)}

    return walk(body), removed


def install_built_in_templates(stack: RealStack) -> None:
    """Empty stand-ins for Elastic's built-in templates, so the index template's composition is checked."""
    for name in BUILT_IN_TEMPLATES:
        answer = stack.request("PUT", f"/_component_template/{name}", {"template": {}})
        assert answer.status == 200, answer.text
        note(
            f"stand-in: component template {name} installed empty "
            "(the test distribution has no built-in templates)"
        )


@dataclass
class Proxy:
    """The TLS proxy in front of one node, and what it did with each request."""

    address: str
    node_address: str
    server_name: str
    ca_pem: str
    fake: FakeElasticsearch = field(default_factory=FakeElasticsearch)
    forwarded: list[str] = field(default_factory=list)

    def to_node(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        context = ssl.create_default_context(cadata=self.ca_pem)
        raw = socket.create_connection((self.node_address, 9200), 60)
        connection = http.client.HTTPSConnection(self.server_name, 9200, context=context, timeout=60)
        connection.sock = context.wrap_socket(raw, server_hostname=self.server_name)
        connection.request(method, path, body=body or None, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()

    def to_fake(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        host, port = self.fake.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        connection.request(method, path, body=body or None, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        """Send one request where it can be answered, recording anything not sent to the node as is."""
        endpoint = f"{method} {path.split('?')[0]}"
        for prefix, reason in DIVERTED.items():
            if path.startswith(prefix):
                note(f"not sent to the real node ({reason}): {endpoint} answered by the fake")
                return self.to_fake(method, path, body)
        if body:
            stripped, removed = strip_lifecycle(json.loads(body))
            if removed:
                note(f"sent without {', '.join(sorted(set(removed)))} (no ILM module): {endpoint}")
                body = json.dumps(stripped).encode()
        self.forwarded.append(f"{method} {path}")
        status, answer = self.to_node(method, path, headers, body)
        self.mirror_repository(method, path, status, body)
        return status, answer

    def mirror_repository(self, method: str, path: str, status: int, body: bytes) -> None:
        """The fake answers SLM, which names a repository: tell it of the ones the node registered."""
        parts = path.split("?")[0].strip("/").split("/")
        if parts[0] != "_snapshot" or len(parts) != 2 or status != 200:
            return
        if method == "PUT":
            self.fake.repositories[parts[1]] = json.loads(body)
        elif method == "DELETE":
            self.fake.repositories.pop(parts[1], None)


def start_proxy(
    stack: RealStack, node_pod: str, server_name: str
) -> tuple[Proxy, http.server.ThreadingHTTPServer]:
    """A proxy at an address of its own, serving the node's certificate for `server_name`."""
    addresses = stack.workspace.addresses
    proxy = Proxy(
        address=addresses.add_address(f"stand-in-{stack.name}"),
        node_address=addresses.pods[node_pod],
        server_name=server_name,
        ca_pem=stack.client().ca_pem,
    )
    fake_server = serve(proxy.fake)
    certificates = next(
        pods_secret
        for pods_secret in (
            stack.secret(m["metadata"]["name"]) for m in stack.manifests if m["kind"] == "Secret"
        )
        if f"{node_pod}.tls.crt" in pods_secret
    )
    directory = Path(tempfile.mkdtemp(prefix="elk-proxy-"))
    (directory / "tls.crt").write_text(certificates[f"{node_pod}.tls.crt"])
    (directory / "tls.key").write_text(certificates[f"{node_pod}.tls.key"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "tls.crt", directory / "tls.key")

    class Handler(http.server.BaseHTTPRequestHandler):
        def handle_call(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {
                k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")
            }
            status, answer = proxy.answer(self.command, self.path, headers, body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_call  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer((proxy.address, 9200), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    original_shutdown = server.shutdown

    def shutdown() -> None:
        original_shutdown()
        fake_server.shutdown()

    server.shutdown = shutdown  # type: ignore[method-assign]
    return proxy, server
