"""Timeouts and buffer bounds of a live connection, each with its default and the reason for it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_SETTINGS", "ConnectionSettings"]


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """How a :class:`~wsbackend.connection.websocket.WebSocket` treats time and memory.

    Attributes:
        ping_interval: Seconds of silence from the peer before we send a keepalive ping; None
            turns keepalive off. 20 s stays under the 60 s idle timeouts of nginx and Apache.
        ping_timeout: Seconds after that ping with still nothing from the peer before the
            connection is dropped as dead (reported as 1006).
        close_timeout: Deadline, in seconds, for the closing handshake: the peer's close frame,
            then its taking our last bytes; the socket is closed regardless after it.
        handshake_timeout: Deadline, in seconds from the upgrade, for hixie-76's 8 key bytes
            (and, in the handler, for the whole request head); slow-loris protection.
        send_timeout: Seconds one write may block on a peer that does not read before the
            connection is dropped: one deadline for the whole write.
        max_send_buffer: Bytes queued for one client before ``send`` waits for them to drain.
            A broadcast may go past it for a burst: the client is closed (1008) only once its
            queue stayed over it for ``slow_reader_grace`` seconds, or reached
            ``max_send_burst``; so one stuck reader never stalls the others, and a reader
            that keeps up is never cut off for one burst.
        slow_reader_grace: Seconds a client's queue may stay over ``max_send_buffer``.
        max_send_burst: Bytes queued for one client past which it is cut off at once:
            broadcasts, pongs, close frames, and what is held for a hixie-76 client until its
            key arrives; not the application's own ``send`` calls, which wait instead. The
            hard bound on what a client that does not read can make us hold.
        read_size: Bytes asked of the socket per read; many small frames arrive per read.
        turn_messages: Messages one connection hands its application before it lets the other
            greenlets run (it rests until the event loop's next round): a peer that always has
            input waiting cannot starve the others.
        turn_bytes: Bytes one connection reads before it lets the others run, for input that
            completes few messages (huge or fragmented ones).
        turn_frames: Frames one connection decodes before it lets the others run; the rest of
            what it read waits, decoded on its next turn: one 256 KiB read of tiny frames
            (pings, 1-byte fragments) would otherwise be ~40,000 frames in one stretch.
    """

    ping_interval: float | None = 20.0
    ping_timeout: float = 20.0
    close_timeout: float = 5.0
    handshake_timeout: float = 10.0
    send_timeout: float = 30.0
    max_send_buffer: int = 4 * 1024 * 1024
    slow_reader_grace: float = 10.0
    max_send_burst: int = 16 * 1024 * 1024
    read_size: int = 256 * 1024
    turn_messages: int = 32
    turn_bytes: int = 256 * 1024
    turn_frames: int = 128


DEFAULT_SETTINGS = ConnectionSettings()
