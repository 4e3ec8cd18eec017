"""Every open WebSocket of this process, so that a stop or a reload can close them all.

A server that stops (SIGTERM, a gunicorn graceful stop) sends each client a close frame with
1001 "going away"; one that reloads (gunicorn HUP, USR2) sends 1012 "service restart", so that
clients know to reconnect. It then waits a bounded time for the closing handshakes to finish and
the applications' ``on_close`` to run, and exits.
"""

from __future__ import annotations

import logging
import weakref
from time import monotonic
from typing import TYPE_CHECKING

import gevent

from ..protocol import CloseCode

if TYPE_CHECKING:
    from .websocket import WebSocket

__all__ = ["LIVE", "LiveConnections"]

log = logging.getLogger("wsbackend.connection")

_POLL_INTERVAL = 0.05


class LiveConnections:
    """The open WebSockets of one process, held weakly: a connection that is dropped without
    :meth:`~wsbackend.connection.websocket.WebSocket.release` does not linger here."""

    def __init__(self) -> None:
        self._sockets: weakref.WeakSet[WebSocket] = weakref.WeakSet()
        self.draining = False
        """True once :meth:`close_all` ran: new connections are refused."""
        self._drain_code: int = CloseCode.GOING_AWAY

    def add(self, websocket: WebSocket) -> None:
        self._sockets.add(websocket)
        if self.draining:
            # Its handshake was under way when the others were closed: it goes the same way.
            websocket.go_away(self._drain_code)

    def discard(self, websocket: WebSocket) -> None:
        self._sockets.discard(websocket)

    def __len__(self) -> int:
        return len(self._sockets)

    def close_all(self, code: int = CloseCode.GOING_AWAY, reason: str = "") -> int:
        """Start the closing handshake on every open connection, at once; return how many.

        Never waits: each connection's owner sees the peer's answer, and a timer drops a peer
        that gives none within its ``close_timeout``.
        """
        self.draining = True
        self._drain_code = code
        sockets = list(self._sockets)
        for websocket in sockets:
            websocket.go_away(code, reason)
        return len(sockets)

    def wait_closed(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every connection to be released; True if all
        were."""
        deadline = monotonic() + timeout
        while self._sockets and monotonic() < deadline:
            gevent.sleep(_POLL_INTERVAL)
        return not self._sockets

    def drain(self, code: int, timeout: float) -> None:
        """Close every connection with ``code`` and wait for them, at most ``timeout`` s."""
        count = self.close_all(code)
        if count:
            log.info(
                "closing %d open connection(s) with %d, waiting up to %s s", count, code, timeout
            )
        if not self.wait_closed(timeout):
            log.warning("%d connection(s) still open after %s s; dropping them", len(self), timeout)


LIVE = LiveConnections()
"""This process's open connections."""
