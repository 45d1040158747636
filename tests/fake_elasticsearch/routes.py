"""Which request gets which answer: a table of routes, each a test and a named handler."""

from __future__ import annotations

import http.server
import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.fake_elasticsearch.cluster import (
    FakeElasticsearch,
    cluster_settings,
    managed_by,
    resolve_all,
    snapshot_call,
)


@dataclass(frozen=True)
class Request:
    """One request as the fake reads it: method, path with its query, credentials and JSON body."""

    method: str
    path: str
    auth: str
    body: Any


Answer = tuple[int, Any]
"""A status and the JSON body to send; a body of None means the `_cat` text of the nodes."""
Route = tuple[Callable[[FakeElasticsearch, Request], bool], Callable[[FakeElasticsearch, Request], Answer]]


def unauthenticated(state: FakeElasticsearch, request: Request) -> Answer:
    return 401, {"error": {"type": "security_exception", "reason": "unable to authenticate"}}


def unhealthy(state: FakeElasticsearch, request: Request) -> Answer:
    state.unhealthy_answers -= 1
    return 503, {}


def refused(state: FakeElasticsearch, request: Request) -> Answer:
    status = state.refusal_status
    return status, {"error": {"type": "security_exception", "reason": state.refusal_reason}, "status": status}


def cat_nodes(state: FakeElasticsearch, request: Request) -> Answer:
    return 200, None


def snapshot_apis(state: FakeElasticsearch, request: Request) -> Answer:
    return snapshot_call(state, request.method, request.path, request.body)


def settings_of_the_cluster(state: FakeElasticsearch, request: Request) -> Answer:
    return cluster_settings(state, request.method, request.path.partition("?")[2], request.body)


def resolve_index(state: FakeElasticsearch, request: Request) -> Answer:
    return resolve_all(state)


def list_users(state: FakeElasticsearch, request: Request) -> Answer:
    return 200, managed_by(state.users)


def list_roles(state: FakeElasticsearch, request: Request) -> Answer:
    return 200, managed_by(state.roles)


def last_segment(request: Request) -> str:
    return request.path.rsplit("/", 1)[1]


def delete_user(state: FakeElasticsearch, request: Request) -> Answer:
    del state.users[last_segment(request)]
    return 200, {}


def delete_role(state: FakeElasticsearch, request: Request) -> Answer:
    del state.roles[last_segment(request)]
    return 200, {}


def put_index_settings(state: FakeElasticsearch, request: Request) -> Answer:
    state.index_settings[request.path[1:].split("/_settings?")[0]] = request.body
    return 200, {}


def change_password(state: FakeElasticsearch, request: Request) -> Answer:
    state.users.setdefault(request.path.split("/")[3], {})["password"] = request.body["password"]
    return 200, {}


def put_user(state: FakeElasticsearch, request: Request) -> Answer:
    state.users[last_segment(request)] = request.body
    return 200, {}


def put_role(state: FakeElasticsearch, request: Request) -> Answer:
    state.roles[last_segment(request)] = request.body
    return 200, {}


def put_ilm_policy(state: FakeElasticsearch, request: Request) -> Answer:
    state.policies[last_segment(request)] = request.body
    return 200, {}


def put_component_template(state: FakeElasticsearch, request: Request) -> Answer:
    state.component_templates[last_segment(request)] = request.body
    return 200, {}


def put_index_template(state: FakeElasticsearch, request: Request) -> Answer:
    """Refused, as MetadataIndexTemplateService refuses it, when it composes a missing template."""
    body = request.body
    missing = [
        name
        for name in body.get("composed_of", [])
        if name not in state.component_templates
        and name not in body.get("ignore_missing_component_templates", [])
    ]
    name = last_segment(request)
    if missing:
        reason = f"index template [{name}] specifies component templates {missing} that do not exist"
        return 400, {"error": {"type": "invalid_index_template_exception", "reason": reason}, "status": 400}
    state.templates[name] = body
    return 200, {}


def anything_else(state: FakeElasticsearch, request: Request) -> Answer:
    return 200, {}


def on(method: str | None, *prefixes: str) -> Callable[[FakeElasticsearch, Request], bool]:
    """A route that takes requests of `method` (None: any) whose path starts with one of `prefixes`."""
    return lambda state, request: method in (None, request.method) and request.path.startswith(prefixes)


def not_let_in(state: FakeElasticsearch, request: Request) -> bool:
    return state.accepts is not None and request.auth not in state.accepts


def still_unhealthy(state: FakeElasticsearch, request: Request) -> bool:
    return request.path.startswith("/_cluster/health") and state.unhealthy_answers > 0


def to_refuse(state: FakeElasticsearch, request: Request) -> bool:
    return request.path.startswith(state.refuse)


def index_settings_change(state: FakeElasticsearch, request: Request) -> bool:
    return request.method == "PUT" and "/_settings?" in request.path


def password_change(state: FakeElasticsearch, request: Request) -> bool:
    return request.path.endswith("/_password")


# The first route whose test takes a request answers it.
ROUTES: list[Route] = [
    (not_let_in, unauthenticated),
    (still_unhealthy, unhealthy),
    (to_refuse, refused),
    (on(None, "/_cat/nodes"), cat_nodes),
    (on(None, "/_snapshot/", "/_slm/policy/"), snapshot_apis),
    (on(None, "/_cluster/settings"), settings_of_the_cluster),
    (on(None, "/_resolve/index/"), resolve_index),
    (on("GET", "/_security/user?"), list_users),
    (on("GET", "/_security/role?"), list_roles),
    (on("DELETE", "/_security/user/"), delete_user),
    (on("DELETE", "/_security/role/"), delete_role),
    (index_settings_change, put_index_settings),
    (password_change, change_password),
    (on("PUT", "/_security/user/"), put_user),
    (on("PUT", "/_security/role/"), put_role),
    (on("PUT", "/_ilm/policy/"), put_ilm_policy),
    (on("PUT", "/_component_template/"), put_component_template),
    (on("PUT", "/_index_template/"), put_index_template),
    (on(None, ""), anything_else),
]


def answer(state: FakeElasticsearch, request: Request) -> Answer:
    """What Elasticsearch answers `request`: the first route that takes it, a change acknowledged."""
    if request.path.startswith("/_cluster/health") and state.health_delay:
        time.sleep(state.health_delay)
    status, body = next(handle(state, request) for takes, handle in ROUTES if takes(state, request))
    if status == 200 and body == {} and request.method in ("PUT", "DELETE"):
        body = {"acknowledged": True}  # what Elasticsearch answers a successful change
    return status, body


class FakeHandler(http.server.BaseHTTPRequestHandler):
    """Reads each request, records it in the fake's state and sends the fake's answer."""

    state: FakeElasticsearch

    def handle_call(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        body: dict[str, Any] = json.loads(raw) if raw else {}
        request = Request(self.command, self.path, self.headers.get("Authorization", ""), body)
        self.state.calls.append((request.method, request.path, request.auth, request.body))
        status, answered = answer(self.state, request)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            if answered is None:  # _cat APIs answer text
                self.wfile.write("".join(f"{line}\n" for line in self.state.nodes).encode())
            else:
                self.wfile.write(json.dumps(answered, separators=(",", ":")).encode())
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (--max-time), as the script should

    do_GET = do_POST = do_PUT = do_DELETE = handle_call  # noqa: N815 - http.server's method names

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(state: FakeElasticsearch, tls: ssl.SSLContext | None = None) -> http.server.ThreadingHTTPServer:
    """Start answering on a free local port, over HTTPS when given a server TLS context."""
    handler = type("Handler", (FakeHandler,), {"state": state})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    scheme = "https" if tls else "http"
    state.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    # Polled every 50 ms (not 0.5 s), so shutdown() at the end of a test returns at once.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server
