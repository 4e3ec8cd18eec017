"""Taking the client's socket over from whichever server runs the WSGI application.

Each host hides the socket somewhere else, may already have read bytes past the request head
(hixie-76's 8 key bytes, early frames) into a buffer of its own, and wants a different return
value from an application that took the connection over. This module is the only place that
knows those details:

1. our pywsgi handler (``wsbackend.worker.WebSocketWorker``, ``wsbackend serve``): all versions;
2. gunicorn's plain gevent worker (``-k gevent``): ``gunicorn.socket`` and its read-ahead buffer
   (gunicorn 21.2 and later);
3. gevent-websocket's worker: it already answered the RFC 6455 handshake and put its own
   socket object in ``wsgi.websocket``; we take the socket underneath. Its handler is taught to
   let the application refuse a request first (:func:`prepare_gevent_websocket_handler`).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, Protocol

from .protocol import HandshakeRequest, Limits

__all__ = [
    "HANDLER_KEY",
    "SocketOwner",
    "Transport",
    "find_transport",
    "prepare_gevent_websocket_handler",
    "read_within",
    "take_buffered",
    "wire_request",
]

HANDLER_KEY = "wsbackend.handler"
"""Where our pywsgi handler puts itself in the environ."""


class SocketOwner(Protocol):
    """What our handler offers: the request head as it parsed it under its limits, and the
    socket with the bytes it read ahead."""

    @property
    def request_head(self) -> HandshakeRequest: ...

    @property
    def limits(self) -> Limits: ...

    def take_socket(self) -> tuple[Any, bytes]: ...


def wire_request(environ: Mapping[str, Any]) -> HandshakeRequest | None:
    """The request head as our handler read and checked it, if it is the host: rebuilding it
    from the environ would parse it a second time."""
    owner: SocketOwner | None = environ.get(HANDLER_KEY)
    return None if owner is None else owner.request_head


def read_within(environ: Mapping[str, Any], request: HandshakeRequest, limits: Limits) -> bool:
    """Whether our handler read ``request`` off the wire under ``limits`` (or the same values):
    then they held before a byte of it was kept, and need no second look."""
    owner: SocketOwner | None = environ.get(HANDLER_KEY)
    if owner is None or owner.request_head is not request:
        return False
    return owner.limits is limits or owner.limits == limits


class Transport(NamedTuple):
    """A socket taken over from the host.

    Attributes:
        socket: The connected gevent socket.
        initial_data: Bytes the host had read past the request head.
        handshake_sent: True when the host already wrote the 101 reply itself.
        response: What the WSGI application returns to the host afterwards, so that the host
            writes nothing more on the socket.
    """

    socket: Any
    initial_data: bytes
    handshake_sent: bool
    response: Iterable[bytes]


def take_buffered(rfile: Any, sock: Any) -> bytes:
    """Drain what a buffered reader over ``sock`` holds, without waiting for more."""
    timeout = sock.gettimeout()
    sock.settimeout(0.0)
    try:
        held = rfile.peek(1)
        return rfile.read(len(held)) if held else b""
    except OSError:
        return b""
    finally:
        sock.settimeout(timeout)


def _take_unread(unreader: Any) -> bytes:
    """What gunicorn's parser read past the request head, without waiting for more.

    ``Unreader.take_buffered()`` exists from gunicorn 26.2; before it, the same bytes sit in
    its ``buf`` (a BytesIO), which ``read()`` cannot drain without blocking once empty.
    """
    take_buffered = getattr(unreader, "take_buffered", None)
    if take_buffered is not None:
        return bytes(take_buffered())
    held: bytes = unreader.buf.getvalue()
    unreader.buf = io.BytesIO()
    return held


def _exhausted(*args: object) -> bytes:
    return b""


def find_transport(environ: Mapping[str, Any]) -> Transport | None:
    """Take over the socket of the request in ``environ``; None if this host cannot hand it over
    (mod_wsgi, a server without one of the hooks above)."""
    owner: SocketOwner | None = environ.get(HANDLER_KEY)
    if owner is not None:
        sock, initial = owner.take_socket()
        return Transport(sock, initial, False, [])
    legacy: Any = environ.get("wsgi.websocket")
    handler = getattr(legacy, "handler", None)
    if handler is not None and type(legacy).__module__.startswith("geventwebsocket"):
        legacy.closed = True
        return Transport(handler.socket, take_buffered(handler.rfile, handler.socket), True, [])
    sock = environ.get("gunicorn.socket")
    if sock is not None:
        from gunicorn.workers.base_async import ALREADY_HANDLED

        unreader = getattr(getattr(environ.get("wsgi.input"), "reader", None), "unreader", None)
        initial = b""
        if unreader is not None:
            initial = _take_unread(unreader)
            # Before gunicorn 27 the keep-alive loop parses again after ALREADY_HANDLED, on
            # the socket we will have closed (a traceback per connection): it sees EOF instead.
            unreader.chunk = _exhausted
        return Transport(sock, initial, False, ALREADY_HANDLED)
    return None


_ASKS_FIRST = "_wsbackend_asks_application_first"


def prepare_gevent_websocket_handler() -> None:
    """Let gevent-websocket's handler, if loaded, ask the application before it upgrades.

    That handler answers the handshake before the application runs: it sends 101 for a
    subprotocol nobody serves, and every request it refuses itself (hixie clients, unknown
    versions) ends in a ``TypeError`` traceback, its refusal bodies being str, with nothing
    sent. Wrapped here, it first calls the application's ``refuse_early(environ,
    start_response)`` (our middleware's) and sends that response when there is one.
    Applications without that method see no change. Done once per process.
    """
    handler_class = getattr(sys.modules.get("geventwebsocket.handler"), "WebSocketHandler", None)
    if handler_class is None or getattr(handler_class, _ASKS_FIRST, False):
        return
    upgrade: Callable[[Any], Any] = handler_class.upgrade_websocket

    def upgrade_unless_refused(handler: Any) -> Any:
        refuse = getattr(handler.application, "refuse_early", None)
        response = refuse(handler.environ, handler.start_response) if refuse else None
        return upgrade(handler) if response is None else response

    handler_class.upgrade_websocket = upgrade_unless_refused
    setattr(handler_class, _ASKS_FIRST, True)
