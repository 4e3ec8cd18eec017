"""What the reading, writing and timer parts of a connection share: its state, how the
endpoint's events are applied, and how a connection is dropped.

:class:`~.websocket.WebSocket` is assembled from :class:`~.reading.Reading`,
:class:`~.writing.Writing` and :class:`~.timers.Timers`, each a mixin over
:class:`ConnectionBase`; the endpoint owns the protocol state, and this object only what the
socket adds to it.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
from typing import Any

from gevent.event import Event

from ..protocol import (
    BinaryMessage,
    CloseCode,
    Closed,
    Endpoint,
    State,
    TextMessage,
    WebSocketError,
)
from .settings import ConnectionSettings

__all__ = [
    "AWAITING_KEY3",
    "OPEN",
    "ConnectionBase",
    "ConnectionClosed",
    "Message",
    "declared_slots",
]

log = logging.getLogger("wsbackend.connection")

Message = str | bytes
"""What :meth:`WebSocket.receive` returns: str for a text message, bytes for a binary one."""

OPEN, AWAITING_KEY3 = State.OPEN, State.AWAITING_KEY3
"""The endpoint states the per-message checks compare against, read once (see
:mod:`wsbackend.protocol`): per read and, in a broadcast, per receiver."""
_ABNORMAL_CLOSURE = CloseCode.ABNORMAL_CLOSURE

_RESET_ON_CLOSE = struct.pack("ii", 1, 0)
"""SO_LINGER on, zero seconds: close with a reset, discarding unsent data."""


class ConnectionClosed(WebSocketError):
    """A send on a connection that is closing or closed."""


def declared_slots(*classes: type) -> tuple[str, ...]:
    """Every attribute that ``classes`` and their bases annotate, for the ``__slots__`` of the
    class that assembles them (the parts declare ``__slots__ = ()``): a connection has over 30
    attributes, past which CPython stops sharing an instance dict's keys, and each idle
    connection paid ~1.3 KB for its own dict."""
    names: dict[str, None] = {}
    for cls in classes:
        for base in reversed(cls.__mro__):
            names.update(dict.fromkeys(vars(base).get("__annotations__", {})))
    return tuple(names)


class ConnectionBase:
    """The state of one connection that the endpoint does not hold, and the glue to it."""

    peer: str
    closed_by: str | None
    """Who ended it: ``"server"`` (a close or failure of ours), ``"client"`` (its close
    frame first), or ``"lost"`` (the stream ended without a closing handshake)."""
    messages_received: int
    bytes_received: int
    """Bytes read from the socket, framing included (``bytes_sent`` likewise)."""
    messages_sent: int
    bytes_sent: int
    _sock: Any
    _plain: bool
    """Whether the socket is a plain gevent socket (not TLS, not a stand-in): its ``send``
    takes a per-call timeout, and its readiness shows all of its input (a TLS socket may hold
    decrypted input that no readiness event announces)."""
    _endpoint: Endpoint
    _settings: ConnectionSettings
    _messages: list[Message]
    """Received messages, read in order by :meth:`~.reading.Reading.receive`. A list, not a
    deque: cleared, it keeps no array, where an empty deque keeps a 64-slot block (~0.7 KB
    per idle connection)."""
    _closed: bool
    _aborted: bool
    _write_shut: bool
    """Our FIN is sent: the write side is shut once, though both the writer (after the last
    frame) and the release (before waiting for the peer's FIN) ask for it."""
    _reading: bool
    """True while the owner greenlet waits on the socket."""
    _last_seen: float
    """When the peer last sent anything: the keepalive clock."""
    _out: list[bytes]
    _queued: int
    _drained: Event | None
    """Set when the queue drains; made by the first greenlet that waits for that, since most
    connections never wait (an Event each would cost every idle one)."""

    @property
    def close_code(self) -> int | None:
        """Why the connection ended, once it has: the peer's close code, or 1006."""
        return self._endpoint.close_code

    @property
    def close_reason(self) -> str:
        """The reason that came with :attr:`close_code`."""
        return self._endpoint.close_reason

    def _process_events(self, write_now: bool = True) -> None:
        """Apply what the endpoint decoded: queue messages, note the close; then send what it
        produced (pongs, close frames)."""
        messages = self._messages
        before = len(messages)
        for event in self._endpoint.events_received():
            kind = type(event)
            if kind is TextMessage or kind is BinaryMessage:
                messages.append(event.data)  # type: ignore[union-attr]
            elif kind is Closed:
                self._on_closed(event)  # type: ignore[arg-type]
        self.messages_received += len(messages) - before
        if self._endpoint.output_pending:
            self._flush_endpoint(write_now)

    def _on_closed(self, event: Closed) -> None:
        self._closed = True
        if self.closed_by is None:  # not our close(): the peer's close frame, a failure or EOF
            lost = event.code == _ABNORMAL_CLOSURE
            self.closed_by = "lost" if lost else "client" if event.clean else "server"
        failure = self._endpoint.failure
        if failure is not None:
            log.info("%s: failing the connection with %d: %s", self.peer, event.code, failure)

    def _flush_endpoint(self, write_now: bool = True) -> None:
        """Queue what the endpoint has to send (defined by :class:`~.writing.Writing`)."""
        raise NotImplementedError

    def _check_sendable(self) -> None:
        state = self._endpoint.state
        if self._closed or self._aborted or state is State.CLOSING or state is State.CLOSED:
            raise ConnectionClosed(f"cannot send: the connection to {self.peer} is closed")

    def _wake_drained(self) -> None:
        drained = self._drained
        if drained is not None:
            drained.set()

    def _shutdown_write(self) -> None:
        """Send our FIN once the last frame is out: RFC 6455 §7.1.1, the server closes first."""
        if self._write_shut:
            return
        self._write_shut = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)

    def _abort(self) -> None:
        """Drop the connection without ceremony: the peer vanished, stalled or timed out.

        ``shutdown`` first: it wakes every greenlet blocked on the socket at once, where
        ``close`` does nothing while the host still holds a file object made from it. A zero
        linger makes the close a reset that discards what the kernel still holds for the
        peer: a peer that stopped reading would otherwise be fed it for minutes.
        """
        if self._aborted:
            return
        self._aborted = True
        self._endpoint.receive_eof()
        self._process_events()
        self._wake_drained()
        with contextlib.suppress(OSError):
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._sock.close()
