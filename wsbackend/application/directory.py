"""Who is connected to an application, and in which groups (rooms)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..connection import Message
from .hub import Hub, LocalHub, Member

if TYPE_CHECKING:
    from .client import Client

__all__ = ["Directory", "Group"]

LOCAL_HUB = LocalHub()


class Group:
    """A named set of clients of one application: a chat room, a document's viewers.

    :attr:`members` and ``len()`` are this process's members; :meth:`presence` and
    :meth:`broadcast` reach every process the application's hub spans.
    """

    def __init__(self, name: str, directory: Directory) -> None:
        self.name = name
        self._directory = directory
        self._members: dict[str, Client] = {}
        self._joined_at: dict[str, float] = {}

    @property
    def members(self) -> list[Client]:
        """The clients in the group connected to this process, in the order they joined."""
        return list(self._members.values())

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, client: object) -> bool:
        return getattr(client, "id", None) in self._members

    def presence(self) -> list[Member]:
        """Every member, in every worker and host the hub spans, in the order they joined,
        with the data each shared (:meth:`Client.set_presence <wsbackend.Client.set_presence>`).
        """
        return self._directory.hub.members(self._directory, self.name)

    def broadcast(self, message: Message, exclude: Client | None = None) -> int:
        """Send to every member but ``exclude``, in every process the hub spans; return how
        many in this process took it."""
        directory = self._directory
        return directory.hub.broadcast(directory, self.name, message, exclude)


class Directory:
    """The connected clients of one application and its groups.

    Membership changes on connect and on every kind of disconnect; a client leaves all its
    groups when it goes, and a group that empties is forgotten. Every change and broadcast
    goes through the :class:`~wsbackend.Hub` the directory is bound to (in-process by default).
    """

    def __init__(self) -> None:
        self._clients: dict[str, Client] = {}
        self._groups: dict[str, Group] = {}
        self.hub: Hub = LOCAL_HUB
        self.name = ""

    def bind(self, hub: Hub, name: str) -> None:
        """Share broadcasts and presence through ``hub``, as the application called ``name``."""
        self.hub = hub
        self.name = name
        hub.attach(name, self)

    @property
    def clients(self) -> list[Client]:
        """Every client connected to this process, in the order they connected."""
        return list(self._clients.values())

    def add(self, client: Client) -> None:
        self._clients[client.id] = client
        self.hub.connected(self, client)

    def remove(self, client: Client) -> None:
        groups = client._groups  # not client.groups, which makes a set for a client in none
        if groups:
            for name in list(groups):
                self.leave(client, name)
        if self._clients.pop(client.id, None) is not None:
            self.hub.disconnected(self, client)

    def group(self, name: str) -> Group:
        """The group called ``name``, empty here if nobody in this process is in it."""
        return self._groups.get(name) or Group(name, self)

    @property
    def groups(self) -> list[Group]:
        """The groups that have members in this process."""
        return list(self._groups.values())

    def join(self, client: Client, name: str) -> Group:
        group = self._groups.get(name)
        if group is None:
            group = self._groups[name] = Group(name, self)
        group._members[client.id] = client
        group._joined_at.setdefault(client.id, time.time())
        client.groups.add(name)
        self.hub.joined(self, client, name)
        return group

    def leave(self, client: Client, name: str) -> None:
        client.groups.discard(name)
        group = self._groups.get(name)
        if group is None or group._members.pop(client.id, None) is None:
            return
        del group._joined_at[client.id]
        if not group._members:
            del self._groups[name]
        self.hub.left(self, client, name)

    def broadcast(self, message: Message, exclude: Client | None = None) -> int:
        """Send to every client but ``exclude``, in every process the hub spans; return how
        many in this process took it."""
        return self.hub.broadcast(self, None, message, exclude)

    def count(self) -> int:
        """How many clients the application has, in every process the hub spans."""
        return self.hub.count(self)
