"""Who is connected to an application, and in which groups (rooms)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..connection import Message
from .fanout import deliver

if TYPE_CHECKING:
    from .client import Client

__all__ = ["Directory", "Group"]


class Group:
    """A named set of clients of one application: a chat room, a document's viewers."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._members: dict[str, Client] = {}

    @property
    def members(self) -> list[Client]:
        """The clients in the group, in the order they joined."""
        return list(self._members.values())

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, client: object) -> bool:
        return getattr(client, "id", None) in self._members

    def broadcast(self, message: Message, exclude: Client | None = None) -> int:
        """Send to every member but ``exclude``; return how many took it."""
        return deliver(message, self._members.values(), exclude)


class Directory:
    """The connected clients of one application and its groups.

    Membership changes on connect and on every kind of disconnect; a client leaves all its
    groups when it goes, and a group that empties is forgotten.
    """

    def __init__(self) -> None:
        self._clients: dict[str, Client] = {}
        self._groups: dict[str, Group] = {}

    @property
    def clients(self) -> list[Client]:
        """Every connected client, in the order they connected."""
        return list(self._clients.values())

    def add(self, client: Client) -> None:
        self._clients[client.id] = client

    def remove(self, client: Client) -> None:
        for name in list(client.groups):
            self.leave(client, name)
        self._clients.pop(client.id, None)

    def group(self, name: str) -> Group:
        """The group called ``name``, empty if nobody is in it."""
        return self._groups.get(name) or Group(name)

    @property
    def groups(self) -> list[Group]:
        """The groups that have members."""
        return list(self._groups.values())

    def join(self, client: Client, name: str) -> Group:
        group = self._groups.get(name)
        if group is None:
            group = self._groups[name] = Group(name)
        group._members[client.id] = client
        client.groups.add(name)
        return group

    def leave(self, client: Client, name: str) -> None:
        client.groups.discard(name)
        group = self._groups.get(name)
        if group is None:
            return
        group._members.pop(client.id, None)
        if not group._members:
            del self._groups[name]

    def broadcast(self, message: Message, exclude: Client | None = None) -> int:
        """Send to every client but ``exclude``; return how many took it."""
        return deliver(message, self._clients.values(), exclude)
