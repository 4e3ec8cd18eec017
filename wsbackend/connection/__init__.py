"""The connection layer: a WebSocket over a gevent socket, driven by the protocol core."""

from __future__ import annotations

from .live import LIVE, LiveConnections
from .settings import DEFAULT_SETTINGS, ConnectionSettings
from .websocket import ConnectionClosed, Message, WebSocket

__all__ = [
    "DEFAULT_SETTINGS",
    "LIVE",
    "ConnectionClosed",
    "ConnectionSettings",
    "LiveConnections",
    "Message",
    "WebSocket",
]
