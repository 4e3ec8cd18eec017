"""One WebSocket connection over a gevent socket, driven by the sans-IO endpoint.

Theory of operation. The greenlet that owns the connection (the WSGI request's) reads: each call
to :meth:`WebSocket.receive` returns a queued message, or reads once from the socket, and one
read may complete many frames. Every write (application sends, pongs, close frames, keepalive
pings, pre-framed broadcasts) goes into one outgoing buffer that a single writer greenlet empties
with one ``sendall`` per batch: a burst of sends costs one system call, and two greenlets' sends
never interleave on the wire. The writer also keeps the keepalive clock. :meth:`WebSocket.release`
ends everything: it finishes the closing handshake within ``close_timeout``, lets the peer take
our last bytes, and closes the socket.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
from collections import deque
from time import monotonic
from typing import Any

import gevent
from gevent.event import Event

from ..protocol import (
    BinaryMessage,
    CloseCode,
    Closed,
    Endpoint,
    InvalidState,
    ProtocolVersion,
    State,
    TextMessage,
    WebSocketError,
)
from ..protocol.wire import WireFormat
from .live import LIVE
from .settings import DEFAULT_SETTINGS, ConnectionSettings

__all__ = ["ConnectionClosed", "Message", "WebSocket"]

log = logging.getLogger("wsbackend.connection")

Message = str | bytes
"""What :meth:`WebSocket.receive` returns: str for a text message, bytes for a binary one."""

_KEEPALIVE_PAYLOAD = b"wsbackend-keepalive"
_GIVE_UP_WRITE_TIMEOUT = 1.0
_TURN_PAUSE = 1e-6
"""How long a connection that used up its turn rests: only until the event loop's next round."""
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)
"""SO_LINGER on, zero seconds: close with a reset, discarding unsent data."""
SLOW_READER_REASON = "too slow to read"
"""The 1008 close reason of a peer whose send queue overflowed (see ``max_send_buffer``)."""


class ConnectionClosed(WebSocketError):
    """A send on a connection that is closing or closed."""


def _as_message(message: str | bytes | bytearray | memoryview, binary: bool) -> Message:
    """gevent-websocket's ``send(message, binary)``: the type ``binary`` asks for."""
    if binary:
        return message.encode("utf-8") if isinstance(message, str) else bytes(message)
    return message if isinstance(message, str) else bytes(message).decode("utf-8")


class WebSocket:
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
        self.close_code: int | None = None
        """Why the connection ended, once it has: the peer's close code, or 1006."""
        self.close_reason = ""
        self.closed_by: str | None = None
        """Who ended it: ``"server"`` (a close or failure of ours), ``"client"`` (its close
        frame first), or ``"lost"`` (the stream ended without a closing handshake)."""
        self.messages_received = 0
        self.messages_sent = 0
        self.bytes_received = 0
        """Bytes read from the socket, framing included (``bytes_sent`` likewise)."""
        self.bytes_sent = 0
        self._sock = sock
        self._endpoint = endpoint
        self._settings = settings
        self._messages: deque[Message] = deque()
        self._closed = False
        self._aborted = False
        self._reading = False
        self._last_seen = monotonic()
        self._key_deadline = self._last_seen + settings.handshake_timeout
        self._turn_messages = 0
        self._turn_bytes = 0
        self._over_since: float | None = None
        """Since when the send queue has been over ``max_send_buffer``; None while under it."""
        self._out: list[bytes] = []
        self._queued = 0
        self._finishing = False
        self._writing = False
        self._wake = Event()
        self._drained = Event()
        self._drained.set()
        sock.settimeout(settings.send_timeout)
        with contextlib.suppress(OSError):
            # Messages are written whole; Nagle's algorithm would hold small ones back for an
            # ACK that the peer delays, 40 ms at a time.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._writer = gevent.spawn(self._write_loop)
        LIVE.add(self)
        if initial_data:
            self._endpoint.receive_data(initial_data)
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

    @property
    def buffered_amount(self) -> int:
        """Bytes queued for the peer and not yet written (as in the browser API)."""
        return self._queued

    # -- reading -------------------------------------------------------------------------------

    def receive(self) -> Message | None:
        """The next message, waiting for it; None once the connection is closed.

        Only one greenlet may receive at a time.
        """
        messages = self._messages
        while not messages:
            if self._closed:
                return None
            self._read()
        message = messages.popleft()
        self._turn_messages += 1
        if self._turn_messages >= self._settings.turn_messages:
            self._end_turn()
        return message

    def _end_turn(self) -> None:
        """Let the other greenlets run: a peer whose input is always waiting would otherwise
        keep the worker, since reading a socket that has data never switches greenlets."""
        self._turn_messages = 0
        self._turn_bytes = 0
        # Not sleep(0): gevent runs up to ~100 rounds of ready greenlets before it polls for
        # I/O again, which left the others' input unread for seconds. A timer, however short,
        # waits for the next loop iteration, and every iteration polls.
        gevent.sleep(_TURN_PAUSE)

    def _read(self) -> None:
        if self._endpoint.failure_pending:
            self._process_events()
            return
        data: bytes | None = None
        self._reading = True
        try:
            if self._endpoint.state is State.AWAITING_KEY3:
                # A deadline for all 8 bytes, not a timeout per read: one byte at a time
                # must not hold the connection open forever.
                remaining = self._key_deadline - monotonic()
                if remaining > 0:
                    with gevent.Timeout(remaining, False):
                        data = self._sock.recv(self._settings.read_size)
                if data is None:
                    log.info("%s: hixie-76 key bytes not received in time", self.peer)
                    data = b""
            else:
                data = self._sock.recv(self._settings.read_size)
        except TimeoutError:
            return
        except OSError as exc:
            if not self._aborted:
                log.debug("%s: read failed: %s", self.peer, exc)
            data = b""
        finally:
            self._reading = False
        if data:
            self._last_seen = monotonic()
            self.bytes_received += len(data)
            self._endpoint.receive_data(data)
            self._turn_bytes += len(data)
        else:
            self._endpoint.receive_eof()
        self._process_events()
        if self._turn_bytes >= self._settings.turn_bytes:
            self._end_turn()

    def _process_events(self, write_now: bool = True) -> None:
        messages = self._messages
        before = len(messages)
        for event in self._endpoint.events_received():
            kind = type(event)
            if kind is TextMessage or kind is BinaryMessage:
                messages.append(event.data)  # type: ignore[union-attr]
            elif kind is Closed:
                self._on_closed(event)  # type: ignore[arg-type]
        self.messages_received += len(messages) - before
        self._flush_endpoint(write_now)

    def _on_closed(self, event: Closed) -> None:
        self._closed = True
        self.close_code = event.code
        self.close_reason = event.reason
        failure = self._endpoint.failure
        if self.closed_by is None:  # not our close(): the peer's close frame, a failure or EOF
            lost = event.code == CloseCode.ABNORMAL_CLOSURE
            self.closed_by = "lost" if lost else "client" if event.clean else "server"
        if failure is not None:
            log.info("%s: failing the connection with %d: %s", self.peer, event.code, failure)

    # -- writing -------------------------------------------------------------------------------

    def send(
        self, message: str | bytes | bytearray | memoryview, binary: bool | None = None
    ) -> None:
        """Send a message: text for str, binary for bytes, unless ``binary`` says otherwise.

        Waits while more than ``max_send_buffer`` bytes are queued for this peer.

        Raises:
            ConnectionClosed: The connection is closing or closed.
            InvalidState: A binary message to a hixie client, which has no binary frames.
        """
        if binary is not None:
            message = _as_message(message, binary)
        elif not isinstance(message, str | bytes):
            message = bytes(message)
        try:
            data = self._endpoint.frame_message(message)
        except InvalidState:
            self._send_queued(message)
            self.messages_sent += 1
            return
        self.messages_sent += 1
        self._enqueue(data)
        if self._queued > self._settings.max_send_buffer:
            self._wait_drained()

    def _send_queued(self, message: Message) -> None:
        """The slow path: closed, or hixie-76 frames held until the key arrives."""
        self._check_sendable()
        if isinstance(message, str):
            self._endpoint.send_text(message)
        else:
            self._endpoint.send_binary(message)
        self._flush_endpoint()

    def send_prepared(self, data: bytes) -> bool:
        """Queue bytes already framed for this connection's :attr:`wire_format`, never waiting.

        This is the broadcast path: a message framed once is queued for every peer of that
        format, and the writer greenlets send it. False if the peer is gone or too slow (see
        :meth:`send_nowait`).
        """
        if not self._has_room(len(data)):
            return False
        self.messages_sent += 1
        if self._endpoint.state is State.AWAITING_KEY3:
            self._endpoint.send_prepared(data)
            self._flush_endpoint(write_now=False)
            return True
        self._enqueue(data, write_now=False)
        return True

    def send_nowait(self, message: Message) -> bool:
        """Frame a message for this peer alone and queue it, never waiting.

        For broadcasts to peers whose frames cannot be shared. A peer whose queue would exceed
        ``max_send_buffer`` does not read fast enough; it is closed with 1008 and False is
        returned, so that it never holds up a broadcast. False too for a peer that is gone, and
        for binary to hixie, which has no binary frames.
        """
        if not self._has_room(len(message)):
            return False
        try:
            if self._endpoint.state is State.AWAITING_KEY3:
                self._send_queued(message)
                return True
            data = self._endpoint.frame_message(message)
        except InvalidState:
            return False
        self.messages_sent += 1
        self._enqueue(data, write_now=False)
        return True

    def _has_room(self, size: int) -> bool:
        """Whether a broadcast may queue ``size`` more bytes; cuts off a peer that cannot keep
        up: over ``max_send_buffer`` for longer than a burst lasts, or over ``max_send_burst``."""
        if self._closed or self._endpoint.state not in (State.OPEN, State.AWAITING_KEY3):
            return False
        settings = self._settings
        queued = self._queued + size
        if queued <= settings.max_send_buffer:
            return True
        now = monotonic()
        if self._over_since is None:
            self._over_since = now
            gevent.spawn_later(settings.slow_reader_grace, self._cut_off_if_still_over, now)
        if (
            queued <= settings.max_send_burst
            and now - self._over_since < settings.slow_reader_grace
        ):
            return True
        self._cut_off(queued)
        return False

    def _cut_off_if_still_over(self, since: float) -> None:
        """A queue over ``max_send_buffer`` since ``since``, a grace period ago: the peer does
        not keep up, whether or not more broadcasts come."""
        if self._over_since == since and not self._closed:
            self._cut_off(self._queued)

    def _cut_off(self, queued: int) -> None:
        """Close a peer that does not read fast enough with 1008, dropping what it did not
        take; its writer sends the close frame, and a timer drops it if that cannot leave."""
        settings = self._settings
        since = self._over_since
        log.warning(
            "%s: %d bytes queued, over max_send_buffer=%d for %.1f s (max_send_burst=%d); "
            "closing a peer that does not keep up",
            self.peer,
            queued,
            settings.max_send_buffer,
            0.0 if since is None else monotonic() - since,
            settings.max_send_burst,
        )
        self._queued -= sum(len(data) for data in self._out)
        self._out.clear()
        self._endpoint.fail(CloseCode.POLICY_VIOLATION, SLOW_READER_REASON)
        self._process_events(write_now=False)
        gevent.spawn_later(self._settings.close_timeout, self._abort)

    def ping(self, payload: bytes = b"") -> None:
        """Send a ping (hybi and RFC 6455 only)."""
        self._check_sendable()
        self._endpoint.send_ping(payload)
        self._flush_endpoint()

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
            gevent.spawn_later(self._settings.close_timeout, self._abort_unless_closed)
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
        if self._endpoint.state is State.AWAITING_KEY3:
            self._abort()
            return
        self._endpoint.send_close(code, reason)
        self._process_events(write_now=False)
        if not self._closed:
            gevent.spawn_later(self._settings.close_timeout, self._abort_unless_closed)
        elif self._reading:
            # hixie-75 has no closing handshake: it is over now; wake the owner's read.
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RD)

    def _abort_unless_closed(self) -> None:
        if not self._closed:
            log.info("%s: no close frame within %s s", self.peer, self._settings.close_timeout)
            self._abort()

    def release(self) -> None:
        """End the connection for good and free its socket and writer greenlet.

        The owner calls this once, whatever happened: it closes with 1000 if nobody closed yet,
        flushes what is queued, half-closes so that the peer sees our FIN first (RFC 6455
        §7.1.1), waits briefly for the peer's, and closes the socket.
        """
        if not self._closed and not self._aborted:
            self.close()
        self._finishing = True
        self._wake.set()
        timeout = self._settings.close_timeout
        self._writer.join(timeout)
        if not self._writer.dead:
            self._writer.kill(block=False)
            self._abort()
        if not self._aborted:
            self._await_peer_eof(timeout)
        self._sock.close()
        self._closed = True
        LIVE.discard(self)

    def _await_peer_eof(self, timeout: float) -> None:
        self._shutdown_write()
        try:
            with gevent.Timeout(timeout, False):
                while self._sock.recv(self._settings.read_size):
                    pass
        except OSError:
            pass

    def _check_sendable(self) -> None:
        state = self._endpoint.state
        if self._closed or self._aborted or state is State.CLOSING or state is State.CLOSED:
            raise ConnectionClosed(f"cannot send: the connection to {self.peer} is closed")

    def _flush_endpoint(self, write_now: bool = True) -> None:
        data = self._endpoint.data_to_send()
        if data:
            self._enqueue(data, write_now)
            if self._queued > self._settings.max_send_burst:
                log.warning(
                    "%s: %d bytes queued, over max_send_burst=%d; dropping a peer that does "
                    "not read",
                    self.peer,
                    self._queued,
                    self._settings.max_send_burst,
                )
                self._abort()
        if self._endpoint.transport_should_close and not self._finishing:
            self._finishing = True
            self._wake.set()

    def _enqueue(self, data: bytes, write_now: bool = True) -> None:
        """Queue bytes; write them at once unless a batch is under way or ``write_now`` is off.

        While received messages wait to be handled, or another greenlet is writing, the bytes
        join the queue and the writer greenlet sends them all in one call once this greenlet
        yields. Otherwise the caller writes them itself, which saves two greenlet switches
        on every lone message. Broadcasts never write in the caller's greenlet, so that one
        slow peer cannot hold up the others.
        """
        self._out.append(data)
        self._queued += len(data)
        if not write_now or self._messages or self._writing:
            self._wake.set()
        else:
            self._write_out()

    def _write_out(self) -> None:
        """Write everything queued, including what is queued while this write blocks."""
        out = self._out
        self._writing = True
        try:
            while out and not self._aborted:
                data = b"".join(out) if len(out) > 1 else out[0]
                out.clear()
                written = self._write(data)
                self._queued -= len(data)
                if not written:
                    break
                self.bytes_sent += len(data)
        finally:
            self._writing = False
        if self._queued <= self._settings.max_send_buffer:
            self._over_since = None
            self._drained.set()
        if self._finishing:
            self._wake.set()

    def _wait_drained(self) -> None:
        limit = self._settings.max_send_buffer
        while self._queued > limit and not self._aborted:
            self._drained.clear()
            self._drained.wait()

    def _write_loop(self) -> None:
        """The writer greenlet: sends batches queued by others, keeps the keepalive clock, and
        sends our FIN once the connection is finished."""
        wake = self._wake
        out = self._out
        interval = self._settings.ping_interval
        next_check = None if interval is None else monotonic() + interval
        while not self._aborted:
            if not out or self._writing:
                if self._finishing and not out and not self._writing:
                    self._shutdown_write()
                    return
                wake.wait(None if next_check is None else max(0.0, next_check - monotonic()))
                wake.clear()
            if out and not self._writing:
                self._write_out()
            if next_check is not None and monotonic() >= next_check:
                next_check = self._keepalive()

    def _shutdown_write(self) -> None:
        """Send our FIN once the last frame is out: RFC 6455 §7.1.1, the server closes first."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)

    def _write(self, data: bytes) -> bool:
        try:
            self._sock.sendall(data)
        except TimeoutError:
            log.warning(
                "%s: peer took no data for %s s; dropping it",
                self.peer,
                self._settings.send_timeout,
            )
        except OSError as exc:
            log.debug("%s: write failed: %s", self.peer, exc)
        else:
            return True
        self._abort()
        return False

    def _keepalive(self) -> float | None:
        """Ping a silent peer and drop a dead one; return when to look again."""
        settings = self._settings
        assert settings.ping_interval is not None
        now = monotonic()
        silent = now - self._last_seen
        if self._endpoint.version.is_hixie or self._endpoint.state is not State.OPEN:
            return now + settings.ping_interval
        if not self._reading:
            # Nobody reads, so a pong could not be seen: no verdict on liveness.
            self._last_seen = now
            return now + settings.ping_interval
        if silent >= settings.ping_interval + settings.ping_timeout:
            log.info("%s: silent for %.1f s after a ping; dropping it as dead", self.peer, silent)
            self._give_up(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
            return None
        if silent >= settings.ping_interval:
            self._endpoint.send_ping(_KEEPALIVE_PAYLOAD)
            self._flush_endpoint()
            return now + settings.ping_timeout
        return self._last_seen + settings.ping_interval

    def _give_up(self, code: int, reason: str) -> None:
        """End a connection whose peer no longer answers, telling it why in a close frame if
        the socket takes one at once (nothing else half-written is in the way)."""
        self._endpoint.fail(code, reason)
        close_frame = self._endpoint.data_to_send()
        if not self._out and not self._writing:
            with contextlib.suppress(OSError), gevent.Timeout(_GIVE_UP_WRITE_TIMEOUT, False):
                self._sock.sendall(close_frame)
        self._process_events(write_now=False)
        self._aborted = True
        self._drained.set()
        self._wake.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

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
        self._drained.set()
        self._wake.set()
        with contextlib.suppress(OSError):
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._sock.close()
