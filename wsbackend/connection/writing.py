"""The writing side of a connection: one outgoing queue, and who writes it out.

Every write (application sends, pongs, close frames, keepalive pings, pre-framed broadcasts)
goes into one outgoing buffer. The sender writes it itself when nothing else is pending, which
saves two greenlet switches per lone message; otherwise a writer greenlet, which lives only
while there is such a backlog, empties it with one write per batch: a burst of sends costs one
system call, and two greenlets' sends never interleave on the wire. An idle connection has no
writer greenlet. Broadcasts never write in the broadcaster's greenlet: the flusher
(:mod:`.flushing`) gives every connection they queued for one write that does not wait, and
only a peer whose socket is full gets a writer greenlet. Which broadcasts a connection takes
is :mod:`.backpressure`'s job.
"""

from __future__ import annotations

from socket import MSG_DONTWAIT
from ssl import SSLWantReadError, SSLWantWriteError

import gevent
from gevent import Greenlet
from gevent.event import Event

from ..protocol import InvalidState
from .backpressure import SLOW_READER_REASON, Backpressure
from .base import AWAITING_KEY3, OPEN, Message, log
from .flushing import FLUSHER

__all__ = ["SLOW_READER_REASON", "Writing"]

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


class Writing(Backpressure):
    """Sending messages from any greenlet, and the writer greenlet that sends batches."""

    _finishing: bool
    """True once nothing more will be queued: the writer sends our FIN when the queue is empty."""
    _writing: bool
    """True while some greenlet is in ``sendall``: others only queue."""
    _writer: Greenlet | None
    """The writer greenlet while there is a backlog; None otherwise."""
    _flush_due: bool
    """True while this connection waits for the flusher's visit (see :mod:`.flushing`)."""

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
        if self._plain and not (
            self._out or self._messages or self._writing or self._flush_due or self._writer
        ):
            data = self._send_lone(data)
            if not data:
                return
        self._own += len(data)
        self._enqueue(data)
        if self._queued > self._settings.max_send_buffer:
            self._wait_drained()

    def _send_lone(self, data: bytes) -> bytes:
        """Write a message with nothing queued before it, at once: what the socket did not
        take, which then goes through the queue; empty once it is all written (or the peer
        is gone).

        A one-at-a-time exchange sends every message this way: one ``send`` on the real
        socket, which never waits, with none of the queue's bookkeeping (~0.6 µs a message).
        """
        try:
            sent = self._sock._sock.send(data, MSG_DONTWAIT)
        except BlockingIOError:
            return data
        except OSError as exc:
            log.debug("%s: write failed: %s", self.peer, exc)
            self._abort()
            return b""
        self.bytes_sent += sent
        return data[sent:] if sent < len(data) else b""

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
        format, and the flusher sends it. False if the peer is gone or too slow (see
        :meth:`send_nowait`).
        """
        queued = self._queued + len(data)
        if (
            self._endpoint.state is OPEN
            and queued <= self._settings.max_send_buffer
            and not self._closed
        ):  # the usual case, inline: a broadcast runs this for each of its thousand peers
            self.messages_sent += 1
            self._out.append(data)
            self._queued = queued
            if not (self._flush_due or self._writing or self._writer is not None):
                self._flush_due = True
                FLUSHER.add(self)
            return True
        if not self._admit_broadcast(len(data)):
            return False
        self.messages_sent += 1
        if self._endpoint.state is AWAITING_KEY3:
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
            if self._endpoint.state is AWAITING_KEY3:
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
        if self._writing or self._flush_due or self._writer is not None:
            return
        if write_now and not self._messages:
            self._write_out()
        else:
            self._flush_due = True
            FLUSHER.add(self)

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

    def _send_nowait_tls(self, data: bytes) -> int:
        """One TLS ``send`` that never waits for room: how much the socket took, 0 when full."""
        sock = self._sock
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
        self._flush_due = False
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
            if self._plain:  # the real socket under gevent's: its wrapper costs ~0.1 µs a peer
                try:
                    sent = self._sock._sock.send(data, MSG_DONTWAIT)
                except BlockingIOError:
                    sent = 0
            else:
                sent = self._send_nowait_tls(data)
        except OSError as exc:
            log.debug("%s: write failed: %s", self.peer, exc)
            self._queued -= len(data)
            self._abort()
            return
        self._queued -= sent
        if self._own:  # a send() that joined a broadcast's queue
            self._own -= min(self._own, sent)
        self.bytes_sent += sent
        if sent < len(data):
            out.insert(0, data[sent:])
        if out:
            if self._writer is None:
                self._writer = gevent.spawn(self._write_backlog)
        elif self._drained is not None or self._finishing or self._over_since is not None:
            self._after_write()  # only then has it anything to do

    def _shut_if_written(self) -> None:
        """Send our FIN once the connection is finished and its last frame is out."""
        if self._finishing and not self._out and not self._writing and not self._aborted:
            self._shutdown_write()

    def _await_written(self, timeout: float) -> bool:
        """Wait until nothing is queued or being written; False if that takes ``timeout``."""
        if not (self._writing or self._flush_due or self._writer is not None):
            return True  # the usual case at the end: no timer to arm and cancel
        with gevent.Timeout(timeout, False):
            while self._writing or self._flush_due or self._writer is not None:
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
