"""One WebSocket connection over a gevent socket, driven by the sans-IO endpoint.

Theory of operation. The greenlet that owns the connection (the WSGI request's) reads (see
:mod:`.reading`). Every write goes into one outgoing queue that the sender, or a writer
greenlet that lives only while there is a backlog, empties (see :mod:`.writing`); keepalive is
an event-loop timer (see :mod:`.timers`). :meth:`WebSocket.release` ends everything: it
finishes the closing handshake within ``close_timeout``, lets the peer take our last bytes, and
closes the socket.
"""

from __future__ import annotations

import contextlib
import socket
from time import monotonic
from typing import Any

import gevent
from gevent.socket import socket as GeventSocket
from gevent.ssl import SSLSocket

from ..protocol import CloseCode, Endpoint, ProtocolVersion, State
from ..protocol.wire import WireFormat
from .base import ConnectionClosed, Message, declared_slots
from .live import LIVE
from .reading import Reading
from .settings import DEFAULT_SETTINGS, ConnectionSettings
from .timers import Timers
from .writing import SLOW_READER_REASON

__all__ = ["SLOW_READER_REASON", "ConnectionClosed", "Message", "WebSocket"]


class WebSocket(Reading, Timers):
    """A WebSocket over a connected gevent socket, after the opening handshake was written.

    The method names follow gevent-websocket's ``WebSocket`` (``receive``, ``send``, ``close``,
    ``closed``), so code written for it runs on this object unchanged.

    Args:
        sock: The connected socket; this object owns it from now on.
        endpoint: The protocol state machine for the negotiated version.
        settings: Timeouts and buffer bounds.
        initial_data: Bytes the host already read past the request head (hixie-76's key,
            early frames).
        peer: How log lines name the peer, e.g. ``"127.0.0.1:50312"``.
        subprotocol: The subprotocol the handshake selected, if any.
    """

    subprotocol: str | None
    """The subprotocol the handshake selected, if any."""
    __slots__ = (*declared_slots(Reading, Timers), "subprotocol")

    def __init__(
        self,
        sock: Any,
        endpoint: Endpoint,
        settings: ConnectionSettings = DEFAULT_SETTINGS,
        initial_data: bytes = b"",
        peer: str = "-",
        subprotocol: str | None = None,
    ) -> None:
        self.subprotocol = subprotocol
        self.peer = peer
        self.closed_by = None
        self.messages_received = 0
        self.messages_sent = 0
        self.bytes_received = 0
        self.bytes_sent = 0
        self._sock = sock
        self._endpoint = endpoint
        self._settings = settings
        self._messages = []
        self._taken = 0
        self._closed = False
        self._aborted = False
        self._write_shut = False
        self._reading = False
        self._last_seen = monotonic()
        self._key_deadline = self._last_seen + settings.handshake_timeout
        self._turn_messages = 0
        self._turn_bytes = 0
        self._wait_first = not initial_data
        self._readable = None
        self._over_since = None
        self._out = []
        self._queued = 0
        self._finishing = False
        self._writing = False
        self._writer = None
        self._flush_due = False
        self._own = 0
        self._drained = None
        # No socket timeout: a read waits for the peer as long as keepalive lets it (a timeout
        # would arm a timer on every wait), and writes carry their own deadline.
        sock.settimeout(None)
        self._plain = isinstance(sock, GeventSocket) and not isinstance(sock, SSLSocket)
        try:  # noqa: SIM105 (suppress() costs a context manager per connection)
            # Messages are written whole; Nagle's algorithm would hold small ones back for an
            # ACK that the peer delays, 40 ms at a time.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # not TCP (a Unix socket): nothing to hold back
            pass
        self._start_keepalive()
        LIVE.add(self)
        if initial_data:
            self._endpoint.receive_data(initial_data, settings.turn_frames)
        self._process_events()

    @property
    def version(self) -> ProtocolVersion:
        """The protocol version the handshake agreed on."""
        return self._endpoint.version

    @property
    def closed(self) -> bool:
        """True once the connection is over; ``receive`` then drains what is left, then None."""
        return self._closed

    @property
    def wire_format(self) -> WireFormat | None:
        """Which pre-framed broadcasts this peer takes; None when it needs its own frames."""
        return self._endpoint.wire_format

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str | bytes = "") -> None:
        """Start the closing handshake; the peer has ``close_timeout`` to answer.

        Called by the greenlet that owns the connection, it reads until the answer comes.
        Called by any other greenlet while the owner reads (an app closing some other client),
        it returns at once: the owner sees the answer, and a timer drops a peer that gives none.
        """
        if self._closed:
            return
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        if self.closed_by is None:
            self.closed_by = "server"
        self._endpoint.send_close(code, reason)
        self._process_events()
        if self._closed:
            return
        if self._reading:
            self._arm_close_deadline()
            return
        with gevent.Timeout(self._settings.close_timeout, False):
            while not self._closed:
                self._read()
        self._abort_unless_closed()

    def go_away(self, code: int = CloseCode.GOING_AWAY, reason: str = "") -> None:
        """Start the closing handshake from any greenlet and return at once (a server that
        stops or reloads): the owner sees the peer's answer, and a peer that gives none is
        dropped after ``close_timeout``."""
        if self._closed or self._aborted:
            return
        if self.closed_by is None:
            self.closed_by = "server"
        if self._endpoint.state is State.AWAITING_KEY3:
            self._abort()
            return
        self._endpoint.send_close(code, reason)
        self._process_events(write_now=False)
        if not self._closed:
            self._arm_close_deadline()
        elif self._reading:
            # hixie-75 has no closing handshake: it is over now; wake the owner's read.
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RD)

    def release(self) -> None:
        """End the connection for good and free its socket and writer greenlet.

        The owner calls this once, whatever happened: it closes with 1000 if nobody closed yet,
        flushes what is queued, half-closes so that the peer sees our FIN first (RFC 6455
        §7.1.1), waits briefly for the peer's, and closes the socket.
        """
        if not self._closed and not self._aborted:
            self.close()
        self._finishing = True
        self._stop_keepalive()
        timeout = self._settings.close_timeout
        if not self._await_written(timeout):
            if self._writer is not None:
                self._writer.kill(block=False)
            self._abort()
        if not self._aborted:
            self._await_peer_eof(timeout)
        if self._readable is not None:
            self._readable.close()
        self._sock.close()
        self._closed = True
        LIVE.discard(self)
