"""The writing side of a connection: one outgoing queue, who writes it out, and backpressure.

Every write (application sends, pongs, close frames, keepalive pings, pre-framed broadcasts)
goes into one outgoing buffer. The sender writes it itself when nothing else is pending, which
saves two greenlet switches per lone message; otherwise a writer greenlet, which lives only
while there is such a backlog, empties it with one write per batch: a burst of sends costs one
system call, and two greenlets' sends never interleave on the wire. An idle connection has no
writer greenlet.
"""

from __future__ import annotations

from ssl import SSLWantReadError, SSLWantWriteError
from time import monotonic
from typing import Any

import gevent
from gevent.event import Event

from ..protocol import CloseCode, InvalidState, State
from .base import ConnectionBase, Message, log
from .flushing import FLUSHER

__all__ = ["SLOW_READER_REASON", "Writing"]

_OPEN, _AWAITING_KEY3 = State.OPEN, State.AWAITING_KEY3
"""Read once: an enum member read through its class costs ~0.2 µs on CPython 3.11, and a
broadcast checks every receiver's state."""

SLOW_READER_REASON = "too slow to read"
"""The 1008 close reason of a peer whose send queue overflowed (see ``max_send_buffer``)."""


WRITE_APART = 64 * 1024
"""From this size on, a message's payload is written on its own after its header, never
joined to other bytes: joining copies it, ~0.1 ms per MiB, where one more write costs ~2 us."""


def _next_batch(out: list[bytes]) -> bytes:
    """Take the next write off a queue that may hold a large piece: the pieces before the
    first large one, joined, or that piece alone."""
    end = next((i for i, piece in enumerate(out) if len(piece) >= WRITE_APART), len(out))
    if end == 0:
        return out.pop(0)
    data = b"".join(out[:end])
    del out[:end]
    return data


def _as_message(message: str | bytes | bytearray | memoryview, binary: bool) -> Message:
    """gevent-websocket's ``send(message, binary)``: the type ``binary`` asks for."""
    if binary:
        return message.encode("utf-8") if isinstance(message, str) else bytes(message)
    return message if isinstance(message, str) else bytes(message).decode("utf-8")


class Writing(ConnectionBase):
    """Sending messages from any greenlet, and the writer greenlet that sends batches."""

    _over_since: float | None
    """Since when the send queue has been over ``max_send_buffer``; None while under it."""
    _finishing: bool
    """True once nothing more will be queued: the writer sends our FIN when the queue is empty."""
    _writing: bool
    """True while some greenlet is in ``sendall``: others only queue."""
    _writer: Any
    """The writer greenlet while there is a backlog, or the flusher while this connection
    waits for it; None otherwise."""
    _own: int
    """Bytes of the application's own ``send`` calls queued or being written: ``send`` waits
    for them to drain, so ``max_send_burst`` bounds only what piles up besides them."""

    @property
    def buffered_amount(self) -> int:
        """Bytes queued for the peer and not yet written (as in the browser API)."""
        return self._queued

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
        elif not isinstance(message, (str, bytes)):
            message = bytes(message)
        try:
            if len(message) < WRITE_APART:
                data = self._endpoint.frame_message(message)
            else:
                head, data = self._endpoint.frame_message_apart(message)
                if head:  # queued unwritten: _enqueue writes it with the payload
                    self._out.append(head)
                    self._queued += len(head)
                    self._own += len(head)
        except InvalidState:
            self._send_queued(message)
            self.messages_sent += 1
            return
        self.messages_sent += 1
        self._own += len(data)
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
        if not self._admit_broadcast(len(data)):
            return False
        self.messages_sent += 1
        if self._endpoint.state is _AWAITING_KEY3:
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
        if not self._admit_broadcast(len(message)):
            return False
        try:
            if self._endpoint.state is _AWAITING_KEY3:
                self._send_queued(message)
                return True
            data = self._endpoint.frame_message(message)
        except InvalidState:
            return False
        self.messages_sent += 1
        self._enqueue(data, write_now=False)
        return True

    def ping(self, payload: bytes = b"") -> None:
        """Send a ping (hybi and RFC 6455 only)."""
        self._check_sendable()
        self._endpoint.send_ping(payload)
        self._flush_endpoint()

    # -- backpressure for broadcasts ------------------------------------------------------------

    def _admit_broadcast(self, size: int) -> bool:
        """Whether a broadcast of ``size`` bytes may be queued for this peer; one that it would
        leave too far behind is cut off instead (see :meth:`_within_burst`)."""
        state = self._endpoint.state
        if self._closed or (state is not _OPEN and state is not _AWAITING_KEY3):
            return False
        queued = self._queued + size
        if state is _AWAITING_KEY3:
            queued += self._endpoint.bytes_held
        if queued <= self._settings.max_send_buffer:
            return True
        if self._over_since is None:
            self._start_grace()
        if self._within_burst(queued):
            return True
        self._cut_off(queued)
        return False

    def _within_burst(self, queued: int) -> bool:
        """Whether a queue of ``queued`` bytes, over ``max_send_buffer``, is still a burst the
        peer may catch up with: under ``max_send_burst`` (the application's own sends aside)
        and within ``slow_reader_grace``."""
        settings = self._settings
        since = self._over_since
        return (
            queued - self._own <= settings.max_send_burst
            and since is not None
            and monotonic() - since < settings.slow_reader_grace
        )

    def _start_grace(self) -> None:
        """Start the clock of a queue gone over ``max_send_buffer``: a peer still over it when
        ``slow_reader_grace`` ends is cut off, whether or not more broadcasts come."""
        since = self._over_since = monotonic()
        gevent.spawn_later(self._settings.slow_reader_grace, self._cut_off_if_still_over, since)

    def _cut_off_if_still_over(self, since: float) -> None:
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
        gevent.spawn_later(settings.close_timeout, self._abort)

    # -- the outgoing queue ---------------------------------------------------------------------

    def _flush_endpoint(self, write_now: bool = True) -> None:
        data = self._endpoint.data_to_send()
        if data:
            self._enqueue(data, write_now)
            if self._queued - self._own > self._settings.max_send_burst:
                log.warning(
                    "%s: %d bytes queued besides the application's own sends, over "
                    "max_send_burst=%d; dropping a peer that does not read",
                    self.peer,
                    self._queued - self._own,
                    self._settings.max_send_burst,
                )
                self._abort()
        if self._endpoint.transport_should_close and not self._finishing:
            self._finishing = True
            self._shut_if_written()

    def _enqueue(self, data: bytes, write_now: bool = True) -> None:
        """Queue bytes; write them at once unless a batch is under way or ``write_now`` is off.

        While a greenlet is writing, or a writer is due, the bytes join the queue and go out
        with the rest. While received messages wait to be handled, the flusher sends the
        batch in one call once this greenlet yields: one greenlet for every connection that
        has a batch in this round of the event loop, where a writer greenlet each cost a spawn
        (and the ``mmap`` of its frame stack) per batch. Otherwise the caller writes them
        itself, which saves two greenlet switches on every lone message. Broadcasts never
        write in the caller's greenlet, so that one slow peer cannot hold up the others.
        """
        self._out.append(data)
        self._queued += len(data)
        if self._writing or self._writer is not None:
            return
        if write_now and not self._messages:
            self._write_out()
        else:
            self._writer = FLUSHER.add(self)

    def _write_out(self) -> None:
        """Write everything queued, including what is queued while this write blocks."""
        out = self._out
        self._writing = True
        try:
            while out and not self._aborted:
                rest = b""
                if len(out) > 1 and self._queued >= WRITE_APART:
                    data = _next_batch(out)
                    if out and len(data) < WRITE_APART <= len(out[0]):
                        # A large piece after small ones (a large message's header): one
                        # write, under one deadline, without joining them.
                        rest = out.pop(0)
                else:
                    data = b"".join(out) if len(out) > 1 else out[0]
                    out.clear()
                size = len(data) + len(rest)
                # Every own byte not yet written is in this batch, unless a large piece
                # was left for the next one (then as much as the batch holds).
                own = min(self._own, size)
                written = self._write(data, rest)
                self._queued -= size
                self._own -= own
                if not written:
                    break
                self.bytes_sent += size
        finally:
            self._writing = False
        self._after_write()

    def _after_write(self) -> None:
        if self._queued <= self._settings.max_send_buffer:
            self._over_since = None
            self._wake_drained()
        self._shut_if_written()

    def _write_backlog(self) -> None:
        """The writer greenlet: writes the backlog, then ends."""
        try:
            self._write_out()
        finally:
            self._writer = None

    def _send_nowait(self, data: bytes) -> int:
        """One ``send`` that never waits for room: how much the socket took, 0 when full."""
        sock = self._sock
        if self._plain:
            try:
                return int(sock.send(data, 0, 0.0))  # a timeout of 0 for this call alone
            except BlockingIOError:
                return 0
        sock.settimeout(0.0)  # gevent's TLS socket heeds only its own timeout; 2 us more
        try:
            return int(sock.send(data))
        except (BlockingIOError, SSLWantReadError, SSLWantWriteError):
            return 0
        finally:
            sock.settimeout(None)

    def _write_nowait(self) -> None:
        """The flusher's visit (see :class:`~.flushing.Flusher`): write what the socket takes
        at once; what it does not take goes to a writer greenlet of this connection's own."""
        self._writer = None
        out = self._out
        if self._writing or self._aborted or not out:
            self._wake_drained()  # whoever writes or aborted wakes the waiters again after
            return
        if len(out) > 1 and self._queued >= WRITE_APART:
            data = _next_batch(out)
        else:
            data = b"".join(out) if len(out) > 1 else out[0]
            out.clear()
        try:
            sent = self._send_nowait(data)
        except OSError as exc:
            log.debug("%s: write failed: %s", self.peer, exc)
            self._queued -= len(data)
            self._abort()
            return
        self._queued -= sent
        self._own -= min(self._own, sent)  # a send() that joined a broadcast's queue
        self.bytes_sent += sent
        if sent < len(data):
            out.insert(0, data[sent:])
        if out:
            self._writer = gevent.spawn(self._write_backlog)
        else:
            self._after_write()

    def _shut_if_written(self) -> None:
        """Send our FIN once the connection is finished and its last frame is out."""
        if self._finishing and not self._out and not self._writing and not self._aborted:
            self._shutdown_write()

    def _await_written(self, timeout: float) -> bool:
        """Wait until nothing is queued or being written; False if that takes ``timeout``."""
        if not self._writing and self._writer is None:
            return True  # the usual case at the end: no timer to arm and cancel
        with gevent.Timeout(timeout, False):
            while self._writing or self._writer is not None:
                self._await_drained()
            return True
        return False

    def _wait_drained(self) -> None:
        limit = self._settings.max_send_buffer
        while self._queued > limit and not self._aborted:
            self._await_drained()

    def _await_drained(self) -> None:
        drained = self._drained
        if drained is None:
            drained = self._drained = Event()
        drained.clear()
        drained.wait()

    def _write(self, data: bytes, rest: bytes = b"") -> bool:
        """Write ``data``, then ``rest``, whole; False (and the connection dropped) if the peer
        cannot take them within ``send_timeout``.

        One non-blocking ``send`` first: it takes the whole of a message the kernel has room
        for, with no timer armed, and costs half of gevent's ``sendall``. Only what is left
        waits, under one deadline for the rest of the write. (A TLS socket's ``send`` ignores
        a per-call timeout, so there the whole write waits under the deadline.)
        """
        sock = self._sock
        sent = 0
        try:
            if self._plain:
                try:  # noqa: SIM105 (suppress() would cost a context manager on every write)
                    sent = sock.send(data, 0, 0.0)
                except BlockingIOError:
                    pass
            if sent < len(data) or rest:
                with gevent.Timeout(self._settings.send_timeout, TimeoutError):
                    if sent < len(data):
                        sock.sendall(memoryview(data)[sent:] if sent else data)
                    if rest:
                        sock.sendall(rest)
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
