"""The interface an application implements: three callbacks, no protocol details."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from ..connection import Message
from .directory import Directory, Group

if TYPE_CHECKING:
    from .client import Client

__all__ = ["Application"]


class Application:
    """A WebSocket application, registered under a subprotocol name.

    Subclass it and override what you need; each callback runs in the client's own greenlet, so
    it may block (a database query, a sleep) without holding up other clients. The application
    never sees the protocol version: hixie-75 to RFC 6455 clients look the same.

    The application knows its clients (:attr:`clients`), can :meth:`broadcast` to them, and
    groups them (:meth:`group`, :meth:`Client.join <wsbackend.Client.join>`).
    """

    def on_connect(self, client: Client) -> None:
        """A client completed the opening handshake; it is already in :attr:`clients`."""

    def on_message(self, client: Client, message: str | bytes) -> None:
        """A whole message arrived: str for text, bytes for binary."""

    def on_close(self, client: Client, code: int, reason: str) -> None:
        """The client is gone: ``code`` is its close code, 1005 if it gave none, 1006 if it
        vanished without a closing handshake. It has left :attr:`clients` and its groups."""

    @cached_property
    def directory(self) -> Directory:
        """Who is connected, and in which groups."""
        return Directory()

    @property
    def clients(self) -> list[Client]:
        """The clients connected to this process (see :meth:`client_count` for all)."""
        return self.directory.clients

    def client_count(self) -> int:
        """How many clients the application has, in every worker and host its hub spans."""
        return self.directory.count()

    def broadcast(self, message: Message, exclude: Client | None = None) -> int:
        """Send to every connected client but ``exclude``, in every worker and host the hub
        spans; return how many in this process took it.

        The message is framed once per wire format and queued; slow clients never hold it up.
        """
        return self.directory.broadcast(message, exclude)

    def group(self, name: str) -> Group:
        """The group (room) called ``name``: its members, and broadcast to them."""
        return self.directory.group(name)
