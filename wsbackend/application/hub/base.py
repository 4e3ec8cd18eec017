"""What a hub does for the application layer: broadcast, groups and presence, maybe shared.

The :class:`~wsbackend.application.Directory` of each application knows its own process's
clients; the hub decides whether a broadcast, a member list or a client count stops at the
process's edge (:class:`~.local.LocalHub`) or spans every worker and host that shares it
(:class:`~.redis.RedisHub`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ...connection import Message

if TYPE_CHECKING:
    from ..client import Client
    from ..directory import Directory

__all__ = ["Hub", "Member"]


@dataclass(frozen=True, slots=True)
class Member:
    """One member of a group, in whichever process or host it is connected.

    Attributes:
        id: The client's :attr:`~wsbackend.Client.id`.
        data: What the application shared for it with :meth:`~wsbackend.Client.set_presence`,
            e.g. ``{"nick": "ada"}``; empty if nothing.
        joined_at: When it joined the group (seconds since the epoch), which orders a list.
    """

    id: str
    data: Mapping[str, Any] = field(default_factory=dict)
    joined_at: float = 0.0


class Hub(Protocol):
    """Carries broadcasts and presence between the processes serving the same applications.

    A directory calls it for every change and every broadcast; the hub delivers to the local
    clients itself (through :func:`~wsbackend.application.fanout.deliver`) and, if it is
    shared, to the other processes.
    """

    shared: bool
    """True if broadcast and presence reach beyond this process."""

    def attach(self, name: str, directory: Directory) -> None:
        """Serve the application called ``name`` (the same in every process) by ``directory``."""

    def broadcast(
        self, directory: Directory, group: str | None, message: Message, exclude: Client | None
    ) -> int:
        """Send to the application's clients (``group`` None) or a group's members, but
        ``exclude``; return how many local clients took it."""

    def members(self, directory: Directory, group: str) -> list[Member]:
        """Every member of ``group``, in every process the hub reaches, in order of joining."""

    def count(self, directory: Directory) -> int:
        """How many clients the application has in every process the hub reaches."""

    def connected(self, directory: Directory, client: Client) -> None:
        """``client`` was added to ``directory``."""

    def disconnected(self, directory: Directory, client: Client) -> None:
        """``client`` left ``directory`` (after leaving its groups)."""

    def joined(self, directory: Directory, client: Client, group: str) -> None:
        """``client`` joined ``group``."""

    def left(self, directory: Directory, client: Client, group: str) -> None:
        """``client`` left ``group``."""

    def presence_changed(self, directory: Directory, client: Client) -> None:
        """``client``'s shared data changed."""

    def close(self) -> None:
        """Stop talking to other processes (at shutdown, in tests)."""
