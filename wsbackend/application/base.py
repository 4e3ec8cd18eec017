"""The interface an application implements: three callbacks, no protocol details."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .client import Client

__all__ = ["Application"]


class Application:
    """A WebSocket application, registered under a subprotocol name.

    Subclass it and override what you need; each callback runs in the client's own greenlet, so
    it may block (a database query, a sleep) without holding up other clients. The application
    never sees the protocol version: hixie-75 to RFC 6455 clients look the same.
    """

    def on_connect(self, client: Client) -> None:
        """A client completed the opening handshake."""

    def on_message(self, client: Client, message: str | bytes) -> None:
        """A whole message arrived: str for text, bytes for binary."""

    def on_close(self, client: Client, code: int, reason: str) -> None:
        """The client is gone: ``code`` is its close code, 1005 if it gave none, 1006 if it
        vanished without a closing handshake."""
