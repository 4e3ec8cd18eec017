"""gevent's pywsgi handler, extended so that a WSGI application can take the socket over.

It puts itself in the environ (see :mod:`wsbackend.hosts`), bounds the time a client has to send
its request head (slow-loris protection), answers Flash policy requests when configured, and
writes no HTTP response for a connection that became a WebSocket. A plain WSGI application
that is not a :class:`~wsbackend.wsgi.WebSocketMiddleware` is wrapped in one, so code written for
gevent-websocket's ``environ["wsgi.websocket"]`` runs unchanged, for every protocol version.
"""

from __future__ import annotations

import logging
from typing import Any

from gevent import pywsgi

from .connection import DEFAULT_SETTINGS, LIVE
from .flashpolicy import POLICY_REQUEST, load_policy, policy_response
from .hosts import HANDLER_KEY, take_buffered
from .wsgi import WebSocketMiddleware

__all__ = ["WebSocketHandler"]

log = logging.getLogger("wsbackend.handler")


class WebSocketHandler(pywsgi.WSGIHandler):  # type: ignore[misc]
    """A pywsgi handler for WebSocket upgrades of every protocol version."""

    handshake_timeout: float = DEFAULT_SETTINGS.handshake_timeout
    flash_policy: bytes | None = load_policy()
    max_connections: int | None = None
    """WebSockets this process serves at once; upgrades past it are answered 503 (see
    :mod:`wsbackend.capacity`). The server sets it at start."""
    _detached = False
    _at_limit = False

    def handle(self) -> None:
        if self.flash_policy is not None and self._answered_flash_policy(self.flash_policy):
            self.socket.close()
            return
        super().handle()

    def _answered_flash_policy(self, policy: bytes) -> bool:
        self.socket.settimeout(self.handshake_timeout)
        try:
            if self.rfile.peek(1)[:1] != POLICY_REQUEST[:1]:
                return False
            if self.rfile.read(len(POLICY_REQUEST)) == POLICY_REQUEST:
                self.socket.sendall(policy_response(policy))
        except OSError:
            pass
        return True

    def read_requestline(self) -> Any:
        self.socket.settimeout(self.handshake_timeout)
        return super().read_requestline()

    def read_request(self, raw_requestline: str) -> Any:
        result = super().read_request(raw_requestline)
        self.socket.settimeout(None)
        return result

    def get_environ(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environ()
        environ[HANDLER_KEY] = self
        environ.setdefault("RAW_URI", self.path)
        return environ

    def take_socket(self) -> tuple[Any, bytes]:
        """Give the socket and the bytes read past the request head to a WebSocket."""
        self._detached = True
        self.close_connection = True
        initial_data = take_buffered(self.rfile, self.socket)
        self.rfile.close()
        return self.socket, initial_data

    def run_application(self) -> None:
        application: Any = self.application  # type: ignore[has-type]
        if "HTTP_UPGRADE" in self.environ and self._refuses_upgrades():
            self.application = _unavailable
        elif "HTTP_UPGRADE" in self.environ and not getattr(
            application, "handles_websocket_upgrades", False
        ):
            self.application = WebSocketMiddleware(application)
        super().run_application()

    def _refuses_upgrades(self) -> bool:
        """True while draining for a stop, or at the connection limit (logged once each time
        it is reached)."""
        if LIVE.draining:
            return True
        limit = self.max_connections
        at_limit = limit is not None and len(LIVE) >= limit
        if at_limit and not WebSocketHandler._at_limit:
            log.warning("%d WebSockets open, the limit: answering 503 to more", limit)
        WebSocketHandler._at_limit = at_limit
        return at_limit

    def process_result(self) -> None:
        if self._detached:
            self.status = "101 Switching Protocols"
            return
        super().process_result()

    def log_request(self) -> None:
        if not self._detached:
            super().log_request()


def _unavailable(environ: dict[str, Any], start_response: Any) -> Any:
    """503 to an upgrade that this process cannot take now: the client retries later."""
    body = b"Too many connections or shutting down; retry later.\n"
    start_response(
        "503 Service Unavailable",
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Retry-After", "1"),
            ("Connection", "close"),
        ],
    )
    return [body]
