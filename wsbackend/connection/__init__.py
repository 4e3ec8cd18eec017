"""The connection layer: a WebSocket over a gevent socket, driven by the protocol core."""

from __future__ import annotations

from .settings import DEFAULT_SETTINGS, ConnectionSettings
from .websocket import ConnectionClosed, Message, WebSocket

__all__ = ["DEFAULT_SETTINGS", "ConnectionClosed", "ConnectionSettings", "Message", "WebSocket"]
