"""Request ids, JSON-lines access logs and request metrics, as one ASGI middleware.

Each request gets an id (the client's ``X-Request-ID`` when it is a short token, else a new
one), echoed in the response header and in error bodies. One JSON line per request goes to
the ``sightkit.serve.access`` logger: time, id, method, route, status, milliseconds, client
address, and face names only when the server runs with ``--log-names``. Never image data.

Example:
    >>> _accepted_id("abc-123"), _accepted_id("bad id\\n") is None
    ('abc-123', True)
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sightkit.serve.metrics import Metrics

access_log = logging.getLogger("sightkit.serve.access")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
Scope = dict[str, Any]


class RequestContext:
    """ASGI middleware: request id, access log line and metrics for every HTTP request."""

    def __init__(self, app: Callable[..., Awaitable[None]], metrics: Metrics, log_names: bool = False) -> None:
        self.app, self.metrics, self.log_names = app, metrics, log_names

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[dict]],
                       send: Callable[[dict], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        request_id = _accepted_id(headers.get(b"x-request-id", b"").decode("latin-1")) or uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status, start = 500, time.perf_counter()

        async def send_with_id(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers") or [])
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - start
            route = _route_template(scope)
            self.metrics.observe_request(route, scope["method"], status, seconds)
            record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "request_id": request_id,
                      "method": scope["method"], "route": route, "status": status, "ms": round(seconds * 1000, 1),
                      "client": (scope.get("client") or ("-",))[0]}
            if self.log_names and state.get("face_names"):
                record["names"] = state["face_names"]
            access_log.info(json.dumps(record))


def _accepted_id(value: str) -> str | None:
    return value if _REQUEST_ID.fullmatch(value) else None


def _route_template(scope: Scope) -> str:
    """The matched route's path template (``/v1/faces/{name}``), so metrics don't grow per name."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path:
        return path
    return scope["path"] if scope["path"] in ("/", "/healthz", "/metrics") or scope["path"].startswith("/static") \
        else "unmatched"
