"""How many connections one worker takes, and what happens past that.

Three bounds, set consistently at start:

- the file limit: the soft ``RLIMIT_NOFILE`` is raised to the hard one where allowed, since each
  connection holds a descriptor;
- the connection limit: WebSockets one worker serves at once (gunicorn's ``worker_connections``,
  or ``wsbackend serve --max-connections``), at most the file limit less a reserve; an upgrade
  request past it is answered 503 with ``Retry-After``, so that the proxy or the client retries
  elsewhere or later, instead of waiting unseen in the accept queue;
- the accept loop: when the process runs out of descriptors anyway (EMFILE), it stops accepting
  for a moment, logs one line (at most one a minute), and carries on serving the connections it
  has; when every slot of its pool is taken (the limit and room for plain requests and 503s),
  new connections wait in the listen queue, with one line a minute at most.
"""

from __future__ import annotations

import errno
import logging
import os
import resource
from time import monotonic
from typing import Any

import gevent

__all__ = [
    "FD_RESERVE",
    "AcceptBackoff",
    "accept_pool_size",
    "connection_limit",
    "raise_file_limit",
    "untrack_greenlet_tree",
]

log = logging.getLogger("wsbackend.capacity")

FD_RESERVE = 64
"""Descriptors kept out of the connection limit: listeners, log files, outgoing connections
(Redis, upstreams), the hub's own."""

EMFILE_PAUSE = 0.1
"""Seconds the accept loop rests after running out of descriptors."""

EMFILE_LOG_INTERVAL = 60.0
"""Seconds between two log lines about running out of descriptors."""

_MAX_SOFT_LIMIT = 1 << 20
_TRACK_GREENLET_TREE = "GEVENT_TRACK_GREENLET_TREE"


def raise_file_limit() -> int:
    """Raise the soft descriptor limit to the hard one where allowed; return the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _MAX_SOFT_LIMIT if hard == resource.RLIM_INFINITY else min(hard, _MAX_SOFT_LIMIT)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.info("could not raise the file limit from %d to %d: %s", soft, target, exc)
        else:
            soft = target
    return soft


def untrack_greenlet_tree() -> None:
    """Stop gevent recording, with every greenlet, the greenlet and stack that spawned it: a
    debugging aid that each connection's greenlet would keep (~0.3 KB) and pay for at spawn.
    ``GEVENT_TRACK_GREENLET_TREE``, when set, still decides."""
    if _TRACK_GREENLET_TREE not in os.environ:
        gevent.config.track_greenlet_tree = False


def connection_limit(requested: int | None, file_limit: int) -> int:
    """The most WebSockets one worker serves: ``requested``, within what ``file_limit``
    allows (all it allows when None)."""
    allowed = max(1, file_limit - FD_RESERVE)
    if requested is None:
        return allowed
    if requested > allowed:
        log.warning(
            "a connection limit of %d does not fit the file limit %d; using %d",
            requested,
            file_limit,
            allowed,
        )
    return max(1, min(requested, allowed))


def accept_pool_size(limit: int, file_limit: int) -> int:
    """How many connections to accept at once: the limit plus room for the requests that
    are answered 503, or are plain HTTP, so that they are answered rather than queued."""
    return max(limit, min(limit + max(16, limit // 10), file_limit - FD_RESERVE // 2))


class AcceptBackoff:
    """A gevent server mixin: at EMFILE/ENFILE, pause accepting, with one log line a minute at
    most instead of a traceback per failed accept; and one line a minute at most while every
    connection slot of its pool is taken (gevent then leaves new connections in the listen
    queue, unanswered, which would otherwise go unseen: many slow or idle request heads, a
    slow-loris attack, look just like that)."""

    _logged_at: float | None = None
    _pauses = 0
    _full_logged_at: float | None = None

    def set_spawn(self, spawn: Any) -> None:
        super().set_spawn(spawn)  # type: ignore[misc]
        pool = getattr(self, "pool", None)
        if pool is None:
            return
        # gevent makes the pool's ``full`` the server's own, an instance attribute.
        pool_full = pool.full

        def full() -> bool:
            if not pool_full():
                return False
            self._note_full(pool.size)
            return True

        self.full = full

    def _note_full(self, slots: int) -> None:
        now = monotonic()
        if self._full_logged_at is not None and now - self._full_logged_at < EMFILE_LOG_INTERVAL:
            return
        self._full_logged_at = now
        from .connection import LIVE

        log.warning(
            "all %d connection slots taken (%d WebSockets; the rest are HTTP requests and "
            "request heads still arriving, each for at most handshake_timeout): new "
            "connections wait in the listen queue",
            slots,
            len(LIVE),
        )

    def do_read(self) -> Any:
        try:
            return super().do_read()  # type: ignore[misc]
        except OSError as exc:
            if exc.errno not in (errno.EMFILE, errno.ENFILE):
                raise
            self._pause_accepting()
            return None

    def _pause_accepting(self) -> None:
        self._pauses += 1
        now = monotonic()
        if self._logged_at is None or now - self._logged_at >= EMFILE_LOG_INTERVAL:
            self._logged_at = now
            log.warning(
                "out of file descriptors (limit %d): accepting paused %d time(s) for %s s; "
                "open connections are served",
                resource.getrlimit(resource.RLIMIT_NOFILE)[0],
                self._pauses,
                EMFILE_PAUSE,
            )
            self._pauses = 0
        server: Any = self
        server.stop_accepting()
        server._timer = server.loop.timer(EMFILE_PAUSE)
        server._timer.start(server._start_accepting_if_started)
