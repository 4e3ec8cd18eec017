"""One connected client as an application sees it."""

from __future__ import annotations

import itertools
import json
import logging
import os
import secrets
from collections.abc import Mapping
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any

from ..connection import ConnectionClosed, Message, WebSocket
from ..protocol import CloseCode, InvalidState

if TYPE_CHECKING:
    from .directory import Directory, Group

__all__ = ["Client"]

log = logging.getLogger("wsbackend.application")

_ids = itertools.count(1)
_prefix = ""


def _process_prefix() -> str:
    """``<pid hex>-<random>``: the pid names the worker in logs, the random part keeps ids
    apart across hosts sharing a hub and across a pid's reuse. Made after the fork, not at
    import (gunicorn's workers import this module before forking), and once per process: a
    forked child starts again with none."""
    global _prefix
    if not _prefix:
        pid = os.getpid()
        _prefix = f"{pid:x}-{secrets.token_hex(3)}"
    return _prefix


def _forget_prefix() -> None:
    global _prefix
    _prefix = ""


os.register_at_fork(after_in_child=_forget_prefix)


class Client:
    """A connected client: its connection, the request it came with, and room for app data.

    Attributes:
        id: The worker's pid in hex, a random part drawn once per process, and a counter:
            unique across the hosts and processes that share a hub.
        environ: The WSGI environ of the upgrade request: path, query, headers, cookies, so the
            site's own session cookie can identify the user.
        remote_addr: The client's address (the real one behind a trusted proxy).
        data: Free for the application, e.g. a nickname; stays in this process.
        wire_format: The connection's :attr:`~wsbackend.connection.WebSocket.wire_format`,
            fixed at the handshake and read here by broadcasts, which ask it of every peer
            (a plain attribute, not a property, for that loop's sake). Read only.
    """

    def __init__(
        self,
        websocket: WebSocket,
        environ: Mapping[str, Any],
        remote_addr: str,
        directory: Directory | None = None,
    ) -> None:
        self.id = f"{_process_prefix()}-{next(_ids)}"
        self.websocket = websocket
        self.wire_format = websocket.wire_format
        self.environ = environ
        self.remote_addr = remote_addr
        self._groups: set[str] | None = None
        self.data: dict[str, Any] = {}
        self._presence: dict[str, Any] = {}
        self._directory = directory

    @property
    def groups(self) -> set[str]:
        """The names of the groups the client is in (the set is made when first asked for:
        most clients join none, and an empty set costs each ~0.2 KB)."""
        groups = self._groups
        if groups is None:
            groups = self._groups = set()
        return groups

    @property
    def version(self) -> str:
        """The protocol version's name, e.g. ``"rfc6455"`` or ``"hixie-76"``."""
        return self.websocket.version.value

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the handshake selected, None when the default app serves it."""
        return self.websocket.subprotocol

    @property
    def path(self) -> str:
        """The request path, e.g. ``"/chat"``."""
        return str(self.environ.get("SCRIPT_NAME", "")) + str(self.environ.get("PATH_INFO", ""))

    @property
    def query_string(self) -> str:
        """The raw query string of the upgrade request."""
        return str(self.environ.get("QUERY_STRING", ""))

    @property
    def cookies(self) -> dict[str, str]:
        """The request's cookies, e.g. the site's session cookie; empty if unparsable."""
        cookie = SimpleCookie()
        try:
            cookie.load(str(self.environ.get("HTTP_COOKIE", "")))
        except CookieError:
            return {}
        return {name: morsel.value for name, morsel in cookie.items()}

    @property
    def closed(self) -> bool:
        """True once the connection is over."""
        return self.websocket.closed

    def send(self, message: Message) -> bool:
        """Send a message (str as text, bytes as binary), waiting if the client's queue is full.

        Returns False if the client is already gone, and for binary to a hixie client, which
        has no binary frames.
        """
        try:
            self.websocket.send(message)
        except (ConnectionClosed, InvalidState) as exc:
            log.debug("%s: message dropped: %s", self.id, exc)
            return False
        return True

    def join(self, group: str) -> Group:
        """Join the group called ``group`` of this client's application."""
        return self._require_directory().join(self, group)

    def leave(self, group: str) -> None:
        """Leave the group called ``group`` (nothing happens if not in it)."""
        self._require_directory().leave(self, group)

    @property
    def presence(self) -> Mapping[str, Any]:
        """What :meth:`set_presence` shared; empty until then."""
        return self._presence

    def set_presence(self, data: Mapping[str, Any]) -> None:
        """Share ``data`` (JSON-serializable, e.g. ``{"nick": "ada"}``) with every process
        that lists this client's groups (:meth:`Group.presence <wsbackend.Group.presence>`).

        Raises:
            TypeError: ``data`` is not JSON-serializable.
        """
        json.dumps(data)
        self._presence = dict(data)
        directory = self._require_directory()
        directory.hub.presence_changed(directory, self)

    def _require_directory(self) -> Directory:
        if self._directory is None:
            raise RuntimeError("this client is not served by an application")
        return self._directory

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake; ``on_close`` follows."""
        self.websocket.close(code, reason)

    def __repr__(self) -> str:
        return f"<Client {self.id} {self.remote_addr} {self.version}>"
