"""gevent-websocket 0.10.1's socket object, for applications written against it.

``WebSocketMiddleware(site_app)`` puts a :class:`LegacyWebSocket` in ``environ["wsgi.websocket"]``.
It wraps our :class:`~wsbackend.connection.WebSocket` and reproduces what such applications can
observe of gevent-websocket's object:

- ``receive()`` returns each message (text as str, binary as bytearray), returns None once when
  the connection ends (close frame, protocol error, vanished peer), then raises
  :class:`LegacyConnectionClosed`. ``WebSocketApplication.handle()`` relies on that raise to leave
  its loop and call ``on_close``; without it that loop never yields.
- ``send()`` on a closed connection raises :class:`LegacyConnectionClosed`, which is a
  ``geventwebsocket.WebSocketError`` when gevent-websocket is installed (otherwise an
  ``OSError``, as that class is) and our :class:`~wsbackend.connection.ConnectionClosed`.
- ``environ``, ``path``, ``origin``, ``protocol``, ``version``, ``current_app``, ``logger`` and
  ``handler`` (``handler.server.clients``, ``handler.active_client``).

Our own API stays on :attr:`LegacyWebSocket.websocket`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .connection import ConnectionClosed, WebSocket
from .protocol import CloseCode, InvalidState

if TYPE_CHECKING:
    _GeventWebSocketError = OSError
else:
    try:
        from geventwebsocket.exceptions import WebSocketError as _GeventWebSocketError
    except ImportError:  # gevent-websocket's class derives from socket.error as well
        _GeventWebSocketError = OSError

__all__ = [
    "LegacyClient",
    "LegacyConnectionClosed",
    "LegacyHandler",
    "LegacyServer",
    "LegacyWebSocket",
    "LegacyWebSocketError",
]

log = logging.getLogger("wsbackend.legacy")

# gevent-websocket's messages, which its applications sometimes compare against.
MSG_SOCKET_DEAD = "Socket is dead"
MSG_ALREADY_CLOSED = "Connection is already closed"
MSG_CLOSED = "Connection closed"

Address = tuple[str, int]


class LegacyWebSocketError(_GeventWebSocketError):
    """What gevent-websocket raises: caught by ``except geventwebsocket.WebSocketError``."""


class LegacyConnectionClosed(LegacyWebSocketError, ConnectionClosed):
    """A send or receive on a closed connection: caught by ``except
    geventwebsocket.WebSocketError`` and by ``except wsbackend.ConnectionClosed`` alike."""


class _NoCurrentApp:
    """gevent-websocket's stand-in when the site application has no ``current_app``."""

    def on_close(self, *args: Any) -> None:
        """Nothing to tell."""


class LegacyClient:
    """An entry of ``handler.server.clients``; applications may set attributes on it (the chat
    example stores a nickname), as on gevent-websocket's ``Client``."""

    def __init__(self, address: Address, ws: LegacyWebSocket) -> None:
        self.address = address
        self.ws = ws


class LegacyServer:
    """What ``ws.handler.server`` offers: the site application and its open connections.

    ``clients`` holds, by peer address, the gevent-websocket-style connections that this
    middleware's site application serves in this process; connections served by our
    :class:`~wsbackend.Application` classes are not in it. Under gevent-websocket's worker it
    holds the connections of the whole gunicorn worker; here, of the site application, which is
    the same thing when one application runs per worker.
    """

    def __init__(self, application: Callable[..., Any]) -> None:
        self.application = application
        self.clients: dict[Address, LegacyClient] = {}
        self.logger = log

    @contextmanager
    def connected(self, websocket: WebSocket, environ: dict[str, Any]) -> Iterator[LegacyWebSocket]:
        """The legacy object for ``websocket``, listed in ``clients`` until the block ends."""
        legacy = LegacyWebSocket(websocket, environ, self)
        address = legacy.handler.client_address
        client = LegacyClient(address, legacy)
        self.clients[address] = client
        try:
            yield legacy
        finally:
            if self.clients.get(address) is client:
                del self.clients[address]


class LegacyHandler:
    """What ``ws.handler`` offers: the server, the peer's address and the request."""

    def __init__(self, server: LegacyServer, client_address: Address, environ: dict[str, Any]):
        self.server = server
        self.client_address = client_address
        self.environ = environ
        self.logger = server.logger

    @property
    def active_client(self) -> LegacyClient:
        """This connection's entry in ``server.clients``."""
        return self.server.clients[self.client_address]


class LegacyWebSocket:
    """gevent-websocket's ``WebSocket`` as its applications see it, over our connection.

    Args:
        websocket: Our connection; this object never releases it.
        environ: The upgraded request's environ.
        server: The registry of connections ``handler.server`` shows.
    """

    def __init__(self, websocket: WebSocket, environ: dict[str, Any], server: LegacyServer) -> None:
        self.websocket = websocket
        """Our :class:`~wsbackend.connection.WebSocket`, for what gevent-websocket lacks
        (``subprotocol``, ``ping``, ``close_code``, ``buffered_amount``)."""
        self.environ = environ
        self.handler = LegacyHandler(server, _peer_address(environ), environ)
        self._ended = False

    # -- what the request said -----------------------------------------------------------------

    @property
    def path(self) -> str | None:
        return self.environ.get("PATH_INFO")

    @property
    def origin(self) -> str | None:
        return self.environ.get("HTTP_ORIGIN")

    @property
    def protocol(self) -> str | None:
        """The subprotocols the client offered, as sent (gevent-websocket's meaning)."""
        return self.environ.get("HTTP_SEC_WEBSOCKET_PROTOCOL")

    @property
    def version(self) -> str | None:
        """The ``Sec-WebSocket-Version`` header; None for hixie clients, which send none."""
        return self.environ.get("HTTP_SEC_WEBSOCKET_VERSION")

    @property
    def logger(self) -> logging.Logger:
        return self.handler.logger

    @property
    def current_app(self) -> Any:
        """The site application's ``current_app`` if it has one; its ``on_close`` hears of
        closes as under gevent-websocket."""
        return getattr(self.handler.server.application, "current_app", None) or _NoCurrentApp()

    @property
    def closed(self) -> bool:
        """True once ``receive()`` returned None or the application closed: as in
        gevent-websocket, messages read before a close frame still come first."""
        return self._ended

    # -- the calls -----------------------------------------------------------------------------

    def receive(self) -> str | bytearray | None:
        """The next message; None once when the connection ends, then LegacyConnectionClosed."""
        if self._ended:
            self.current_app.on_close(MSG_ALREADY_CLOSED)
            raise LegacyConnectionClosed(MSG_ALREADY_CLOSED)
        message = self.websocket.receive()
        if message is None:
            self._ended = True
            if self.websocket.close_code == CloseCode.ABNORMAL_CLOSURE:
                self.current_app.on_close(MSG_CLOSED)
            return None
        return message if isinstance(message, str) else bytearray(message)

    def send(self, message: Any, binary: bool | None = None) -> None:
        """Send text for str and binary for anything else, unless ``binary`` says otherwise.

        Raises:
            LegacyConnectionClosed: The connection is closed.
            LegacyWebSocketError: A binary message to a hixie client, which has no binary
                frames.
        """
        if binary is None:
            binary = not isinstance(message, str)
        try:
            self.websocket.send(message, binary)
        except ConnectionClosed as exc:
            self.current_app.on_close(MSG_SOCKET_DEAD)
            raise LegacyConnectionClosed(MSG_SOCKET_DEAD) from exc
        except InvalidState as exc:
            raise LegacyWebSocketError(str(exc)) from exc

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, message: str | bytes = b"") -> None:
        """Close with ``code`` and ``message``; ``receive`` raises from now on."""
        if self._ended:
            self.current_app.on_close(MSG_ALREADY_CLOSED)
        self._ended = True
        self.websocket.close(code, message)


def _peer_address(environ: dict[str, Any]) -> Address:
    try:
        port = int(environ.get("REMOTE_PORT", 0))
    except ValueError:
        port = 0
    return str(environ.get("REMOTE_ADDR", "")), port
