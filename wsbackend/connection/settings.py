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
        close_timeout: Seconds to wait for the peer's close frame, and for it to take our last
            bytes, before the socket is closed regardless.
        handshake_timeout: Seconds a client has to send its request head (and hixie-76's 8 key
            bytes); slow-loris protection.
        send_timeout: Seconds one write may block on a peer that does not read before the
            connection is dropped.
        max_send_buffer: Bytes queued for one client before ``send`` waits for them to drain;
            a broadcast that would exceed it closes the client instead (1008), so one stuck
            reader never stalls the others.
        read_size: Bytes asked of the socket per read; many small frames arrive per read.
    """

    ping_interval: float | None = 20.0
    ping_timeout: float = 20.0
    close_timeout: float = 5.0
    handshake_timeout: float = 10.0
    send_timeout: float = 30.0
    max_send_buffer: int = 4 * 1024 * 1024
    read_size: int = 256 * 1024


DEFAULT_SETTINGS = ConnectionSettings()
