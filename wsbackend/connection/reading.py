"""The reading side of a connection: the owner greenlet's reads, and its turns.

The greenlet that owns the connection (the WSGI request's) reads: each call to
:meth:`Reading.receive` returns a queued message, or reads once from the socket, and one read
may complete many frames. A turn ends (the connection lets the others run) after
``turn_messages`` messages, ``turn_bytes`` read, or ``turn_frames`` decoded; frames read past
that bound wait in the endpoint for the next turn. On a plain socket, a read that waits for
input ends the turn too: the others ran meanwhile, so a peer that is answered before it speaks
again never rests. A TLS read waits inside ``recv``, unseen here, so a TLS connection rests
every ``turn_messages`` messages whether or not its reads waited.
"""

from __future__ import annotations

from socket import MSG_DONTWAIT
from time import monotonic
from typing import Any

import gevent

from .base import AWAITING_KEY3, ConnectionBase, Message, log

__all__ = ["Reading"]

_TURN_PAUSE = 1e-6
"""How long a connection that used up its turn rests: only until the event loop's next round."""

_read_buffer = memoryview(bytearray(0))
"""What every plain socket of the worker reads into, grown to the largest ``read_size``; what
a read got is copied out before anything can switch greenlets. That makes it safe for the
greenlets of one thread only: ``recv_into`` releases the GIL, so two threads each running a
gevent hub and reading here would overwrite each other's bytes. The workers and ``wsbackend
serve`` run one hub, in the main thread. ``recv(256 KiB)`` allocates
its result before it knows the size, past glibc's mmap threshold: an ``mmap``, page faults
for what the kernel writes, and a ``munmap`` on every read that is not tiny (strace of the
worker under 4 KiB echo: one pair per ``recvfrom``)."""


def _shared_buffer(size: int) -> memoryview:
    """The shared read buffer, at least ``size`` bytes long."""
    global _read_buffer
    buffer = _read_buffer
    if len(buffer) < size:
        buffer = _read_buffer = memoryview(bytearray(size))
    return buffer


class Reading(ConnectionBase):
    """Receiving messages, for the one greenlet that owns the connection."""

    _key_deadline: float
    _taken: int
    """How many of ``_messages`` the application already has; the list is cleared once it has
    them all, so a non-empty list always holds some not yet taken."""
    _turn_messages: int
    _turn_bytes: int
    _wait_first: bool
    """Whether the last read emptied the socket: then the next one waits for input first. So
    does the first (the peer speaks after our 101), unless the host that sent the 101 passed
    on bytes that came with the request (ours feeds those to the endpoint with the reply)."""
    _readable: Any
    """The event loop's watcher for input on the socket, made on the first wait."""

    def receive(self) -> Message | None:
        """The next message, waiting for it; None once the connection is closed.

        Only one greenlet may receive at a time.
        """
        messages = self._messages
        while not messages:
            if self._closed:
                return None
            self._read()
        taken = self._taken
        message = messages[taken]
        taken += 1
        if taken == len(messages):
            messages.clear()  # frees the list's array: an idle connection keeps an empty list
            taken = 0
        self._taken = taken
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
        if self._endpoint.input_pending:
            self._decode_buffered()
            return
        data: bytes | None = None
        self._reading = True
        try:
            if self._endpoint.state is AWAITING_KEY3:
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
                size = self._settings.read_size
                if not self._plain:
                    data = self._sock.recv(size)
                else:
                    if self._wait_first:
                        self._wait_readable()
                        # Waiting let the others run: that was the end of a turn.
                        self._turn_messages = 0
                        self._turn_bytes = 0
                    data = self._recv_plain(size)
                    self._wait_first = len(data) < size
        except OSError as exc:
            if not self._aborted:
                log.debug("%s: read failed: %s", self.peer, exc)
            data = b""
        finally:
            self._reading = False
        if data:
            self._last_seen = monotonic()
            self.bytes_received += len(data)
            self._endpoint.receive_data(data, self._settings.turn_frames)
            self._turn_bytes += len(data)
        else:
            self._endpoint.receive_eof()
        self._process_events()
        if self._turn_bytes >= self._settings.turn_bytes or self._endpoint.input_pending:
            self._end_turn()

    def _decode_buffered(self) -> None:
        """Decode what the last read left over: ``turn_frames`` frames are a turn's work."""
        self._endpoint.receive_data(b"", self._settings.turn_frames)
        self._process_events()
        if self._endpoint.input_pending:
            self._end_turn()

    def _recv_plain(self, size: int) -> bytes:
        """Up to ``size`` bytes from a plain socket, through the shared buffer, waiting for
        input if there is none. It reads the real socket under gevent's, whose ``recv_into``
        does the same in one more Python frame on every read."""
        buffer = _read_buffer
        if len(buffer) < size:
            buffer = _shared_buffer(size)
        sock = self._sock._sock
        while True:
            try:
                return buffer[: sock.recv_into(buffer, size)].tobytes()
            except BlockingIOError:
                self._wait_readable()

    def _wait_readable(self) -> None:
        """Wait until the socket has input (or its end, or an error).

        A connection whose last read emptied the socket has usually just answered, and its
        peer has not spoken again yet: gevent's ``recv`` would try the socket first, fail
        and raise inside, then wait. Waiting first saves that system call and exception on
        every message of a one-at-a-time exchange. (Not for TLS, whose socket may hold
        decrypted input that no readiness event will announce.)
        """
        hub = gevent.get_hub()
        watcher = self._readable
        if watcher is None:
            watcher = self._readable = hub.loop.io(self._sock.fileno(), 1)
        hub.wait(watcher)

    def _await_peer_eof(self, timeout: float) -> None:
        """Half-close, then discard what the peer still sends until its FIN or ``timeout``.

        On a plain socket the peer's FIN is usually in already (it closed first, or hung up
        after its close frame): one read that does not wait sees it without arming a timer,
        and what is discarded goes into the shared buffer, not a fresh 256 KiB object per read.
        """
        self._shutdown_write()
        sock = self._sock
        size = self._settings.read_size
        try:
            if not self._plain:
                with gevent.Timeout(timeout, False):
                    while sock.recv(size):
                        pass
                return
            buffer = _shared_buffer(size)
            try:
                if not sock._sock.recv_into(buffer, size, MSG_DONTWAIT):
                    return
            except BlockingIOError:
                pass
            with gevent.Timeout(timeout, False):
                while sock.recv_into(buffer, size):
                    pass
        except OSError:
            pass
