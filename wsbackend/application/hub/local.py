"""The default hub: broadcast, groups and presence within this process, nothing to set up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...connection import Message
from ..fanout import deliver
from .base import Member

if TYPE_CHECKING:
    from ..client import Client
    from ..directory import Directory

__all__ = ["LocalHub", "local_members"]


def local_members(directory: Directory, group: str) -> list[Member]:
    """The members of ``group`` connected to this process, in order of joining."""
    found = directory._groups.get(group)
    if found is None:
        return []
    return [
        Member(client.id, client.presence, found._joined_at[client.id])
        for client in found._members.values()
    ]


class LocalHub:
    """Everything stays in this process: right for one worker, per worker with several."""

    shared = False

    def attach(self, name: str, directory: Directory) -> None:
        pass

    def broadcast(
        self, directory: Directory, group: str | None, message: Message, exclude: Client | None
    ) -> int:
        if group is None:
            return deliver(message, directory._clients.values(), exclude)
        found = directory._groups.get(group)
        return 0 if found is None else deliver(message, found._members.values(), exclude)

    def members(self, directory: Directory, group: str) -> list[Member]:
        return local_members(directory, group)

    def count(self, directory: Directory) -> int:
        return len(directory._clients)

    def connected(self, directory: Directory, client: Client) -> None:
        pass

    def disconnected(self, directory: Directory, client: Client) -> None:
        pass

    def joined(self, directory: Directory, client: Client, group: str) -> None:
        pass

    def left(self, directory: Directory, client: Client, group: str) -> None:
        pass

    def presence_changed(self, directory: Directory, client: Client) -> None:
        pass

    def close(self) -> None:
        pass
