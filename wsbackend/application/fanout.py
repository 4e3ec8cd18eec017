"""Delivering one message to many clients: framed once per wire format, queued, never waited on.

The connection layer writes them out after the broadcaster yields, one greenlet for all the
peers (a writer of its own only for a peer whose socket is full), so the broadcaster never
blocks on a slow peer; a peer whose queue overflows is closed (1008) by the connection layer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..connection import Message
from ..protocol.wire import WireFormat, encode_message

if TYPE_CHECKING:
    from .client import Client

__all__ = ["deliver"]


def deliver(message: Message, clients: Iterable[Client], exclude: Client | None = None) -> int:
    """Queue ``message`` for every client but ``exclude``; return how many took it."""
    frames: dict[WireFormat, bytes | None] = {}
    last_format: WireFormat | None = None  # most peers share one: skip hashing it for each
    frame: bytes | None = None
    delivered = 0
    for client in clients:
        if client is exclude:
            continue
        wire_format = client.wire_format
        if wire_format is None:
            delivered += client.websocket.send_nowait(message)
            continue
        if wire_format is not last_format:
            last_format = wire_format
            if wire_format in frames:
                frame = frames[wire_format]
            else:
                frame = frames[wire_format] = encode_message(message, wire_format)
        if frame is not None and client.websocket.send_prepared(frame):
            delivered += 1  # not += a bool: int + bool is not the interpreter's fast int add
    return delivered
