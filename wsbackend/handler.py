"""gevent's pywsgi handler, extended so that a WSGI application can take the socket over.

It puts itself in the environ (see :mod:`wsbackend.hosts`), bounds the time a client has to send
its request head (slow-loris protection), answers Flash policy requests when configured, and
writes no HTTP response for a connection that became a WebSocket. A plain WSGI application
that is not a :class:`~wsbackend.wsgi.WebSocketMiddleware` is wrapped in one, so code written for
gevent-websocket's ``environ["wsgi.websocket"]`` runs unchanged, for every protocol version.
"""

from __future__ import annotations

import functools
from typing import Any

from gevent import pywsgi

from .config import Config, active
from .flashpolicy import POLICY_REQUEST, policy_response
from .hosts import HANDLER_KEY, take_buffered
from .wsgi import WebSocketMiddleware

__all__ = ["WebSocketHandler"]


@functools.lru_cache(maxsize=1)
def _flash_policy(config: Config) -> bytes | None:
    """The policy document, read once per configuration rather than once per connection."""
    return config.flash_policy_document()


class WebSocketHandler(pywsgi.WSGIHandler):  # type: ignore[misc]
    """A pywsgi handler for WebSocket upgrades of every protocol version."""

    _detached = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        config = active()
        self.handshake_timeout = config.settings.handshake_timeout
        self.flash_policy = _flash_policy(config)

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
        if "HTTP_UPGRADE" in self.environ and not getattr(
            application, "handles_websocket_upgrades", False
        ):
            self.application = WebSocketMiddleware(application)
        super().run_application()

    def process_result(self) -> None:
        if self._detached:
            self.status = "101 Switching Protocols"
            return
        super().process_result()

    def log_request(self) -> None:
        if not self._detached:
            super().log_request()
