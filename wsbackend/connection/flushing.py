"""The flusher: one greenlet that writes what broadcasts queued for many connections (the
connections' side of it is ``Writing._write_nowait``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gevent

from .base import log

if TYPE_CHECKING:
    from .writing import Writing

__all__ = ["FLUSHER", "Flusher"]


class Flusher:
    """One greenlet that writes what broadcasts queued for many connections.

    A broadcast queues one frame for each of a thousand peers; a writer greenlet for each
    would cost a spawn and two switches per peer and message. Instead those connections wait
    here, and one greenlet, which runs once the broadcaster yields, gives each one write that
    never blocks (a burst of broadcasts goes out joined); a peer whose socket is full gets a
    writer greenlet of its own for the rest, so that it holds up nobody.
    """

    def __init__(self) -> None:
        self._waiting: list[Writing] = []
        self._greenlet: Any = None

    def add(self, connection: Writing) -> None:
        """Give ``connection`` a write soon (it notes that in its ``_flush_due``)."""
        self._waiting.append(connection)
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        try:
            while self._waiting:
                waiting, self._waiting = self._waiting, []
                for connection in waiting:
                    try:
                        connection._write_nowait()
                    except Exception:  # a bug with one peer must not strand the others
                        log.exception("%s: write failed", connection.peer)
                        connection._abort()
        finally:
            self._greenlet = None


FLUSHER = Flusher()
"""The worker's one flusher."""
