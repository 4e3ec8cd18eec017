"""The gunicorn worker: ``gunicorn -k wsbackend.worker.WebSocketWorker module:app``.

gunicorn's gevent pywsgi worker with our handler, so upgrade requests of every protocol
version reach the WSGI application with a socket it can take over.

Graceful stop and reload. gunicorn stops a worker with SIGTERM, both when the server stops and
when it replaces its workers (HUP reload; after a USR2 binary upgrade, when the old master is
stopped). At SIGTERM every client is sent its close frame at once: 1001 "going away", or 1012
"service restart" when the worker was told that it is being replaced, so that clients know to
reconnect. The arbiter tells it with SIGUSR2 (which gunicorn's workers do not otherwise use)
when it starts a reload or a binary upgrade: :meth:`WebSocketWorker.check_config`, which
gunicorn runs in the arbiter, wraps those two arbiter methods (the configuration hooks cannot
do it: a reload replaces the configuration before calling them). gunicorn then waits up to
``--graceful-timeout`` for the closing handshakes and the applications' ``on_close``.

wsbackend's own log lines (refusals, failures, app exceptions, the session line) go to
gunicorn's error log, in its format and at its ``--log-level``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any, ClassVar

import gevent
from gunicorn.workers.ggevent import GeventPyWSGIWorker, PyWSGIHandler, PyWSGIServer

from .capacity import (
    AcceptBackoff,
    accept_pool_size,
    connection_limit,
    raise_file_limit,
    untrack_greenlet_tree,
)
from .config import ConfigError, active
from .connection import LIVE
from .handler import WebSocketHandler
from .metrics import worker_exited
from .protocol import CloseCode

__all__ = ["WebSocketWorker", "log_to_gunicorn"]

WORKER_BOOT_ERROR = 3
"""The exit status that makes gunicorn's arbiter stop rather than start the worker again."""

RELOAD_NOTICE = signal.SIGUSR2
"""What the arbiter sends its current workers when it is about to replace them."""

log = logging.getLogger("wsbackend.worker")


class GunicornWebSocketHandler(WebSocketHandler, PyWSGIHandler):  # type: ignore[misc]
    """Our handler with gunicorn's access log and environ additions."""

    def environ_from_head(self) -> dict[str, Any]:
        environ = super().environ_from_head()
        # What gunicorn's handler adds to gevent's environ (its RAW_URI ours sets too).
        environ["gunicorn.sock"] = self.socket
        return environ


class GunicornServer(AcceptBackoff, PyWSGIServer):  # type: ignore[misc]
    """gunicorn's gevent WSGI server that backs off at EMFILE."""

    started_here: ClassVar[list[GunicornServer]] = []
    """This worker's servers, which stop accepting as soon as the worker is told to stop."""

    def start(self) -> None:
        super().start()
        GunicornServer.started_here.append(self)


class WebSocketWorker(GeventPyWSGIWorker):  # type: ignore[misc]
    """gunicorn's gevent worker serving WebSockets of every protocol version.

    ``worker_connections`` is its connection limit: upgrades past it are answered 503 (gunicorn
    alone would leave them waiting in the accept queue, unseen); see :mod:`wsbackend.capacity`.
    """

    wsgi_handler = GunicornWebSocketHandler
    server_class = GunicornServer
    close_code: int = CloseCode.GOING_AWAY
    """The code open connections are closed with when this worker stops."""

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        """Runs in the arbiter at start: make it tell the workers it is about to replace that
        they are being replaced."""
        from gunicorn.arbiter import Arbiter

        for name in ("reload", "reexec"):
            method = getattr(Arbiter, name)
            if not getattr(method, "_notifies_workers", False):
                setattr(Arbiter, name, _notifying_workers(method))

    def init_process(self) -> None:
        log_to_gunicorn(self.log)
        try:
            active().check()
        except ConfigError as exc:
            self.log.error("wsbackend: %s", exc)
            sys.exit(WORKER_BOOT_ERROR)
        file_limit = raise_file_limit()
        untrack_greenlet_tree()
        # WSBACKEND_MAX_CONNECTIONS wins over gunicorn's --worker-connections (default 1000).
        configured: int = active().max_connections or self.cfg.worker_connections
        limit = connection_limit(configured, file_limit)
        self.wsgi_handler.max_connections = limit
        self.worker_connections = accept_pool_size(limit, file_limit)
        self.log.info(
            "Worker %s: up to %d WebSocket connections (worker_connections; file limit %d)",
            os.getpid(),
            limit,
            file_limit,
        )
        super().init_process()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        hub = getattr(self.wsgi, "hub", None)
        shared = hub.shared if hub is not None else bool(active().redis_url)
        if self.cfg.workers > 1 and not shared and self.age == 1:
            log.warning(
                "%d workers and no hub: app.clients, broadcast and groups stop at each worker; "
                "share them with --redis URL or WSBACKEND_REDIS_URL (see README)",
                self.cfg.workers,
            )

    def run(self) -> None:
        try:
            super().run()
        finally:
            worker_exited(os.getpid())

    def init_signals(self) -> None:
        super().init_signals()
        signal.signal(RELOAD_NOTICE, self.handle_reload_notice)

    def handle_reload_notice(self, sig: int, frame: object) -> None:
        self.close_code = CloseCode.SERVICE_RESTART

    def handle_exit(self, sig: int, frame: object) -> None:
        super().handle_exit(sig, frame)
        gevent.spawn(_drain, self.close_code)


def _drain(code: int) -> None:
    """Stop accepting at once (gunicorn would only within a second; on a reload, new clients
    must reach the new workers), then close every connection; gunicorn waits for them."""
    if LIVE.draining:
        return
    for server in GunicornServer.started_here:
        server.close()
    LIVE.close_all(code)


def _notifying_workers(method: Callable[[Any], None]) -> Callable[[Any], None]:
    """An arbiter ``method`` preceded by a reload notice to each of its current workers."""

    @functools.wraps(method)
    def notify_then_run(arbiter: Any) -> None:
        # reexec does nothing while an upgrade is under way (a child or a parent master).
        if arbiter.reexec_pid == 0 and arbiter.master_pid == 0:
            for pid in list(arbiter.WORKERS):
                with contextlib.suppress(OSError):
                    os.kill(pid, RELOAD_NOTICE)
        method(arbiter)

    notify_then_run._notifies_workers = True  # type: ignore[attr-defined]
    return notify_then_run


def log_to_gunicorn(gunicorn_log: Any) -> None:
    """Send the ``wsbackend`` loggers to the handlers of gunicorn's error log (the same
    objects, so that SIGUSR1 reopens our file too), at its level."""
    error_log = gunicorn_log.error_log
    if not error_log.handlers:  # a --log-config of the user's own: leave ours to it
        return
    ours = logging.getLogger("wsbackend")
    ours.handlers[:] = error_log.handlers
    ours.setLevel(error_log.level)
    ours.propagate = False
