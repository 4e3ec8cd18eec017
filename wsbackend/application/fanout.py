"""Delivering one message to many clients: framed once per wire format, queued, never waited on.

Each connection's writer greenlet does the writing, so the broadcaster never blocks on a slow
peer; a peer whose queue overflows is closed (1008) by the connection layer.
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
    delivered = 0
    for client in clients:
        if client is exclude:
            continue
        websocket = client.websocket
        wire_format = websocket.wire_format
        if wire_format is None:
            delivered += websocket.send_nowait(message)
            continue
        if wire_format in frames:
            frame = frames[wire_format]
        else:
            frame = frames[wire_format] = encode_message(message, wire_format)
        if frame is not None:
            delivered += websocket.send_prepared(frame)
    return delivered
