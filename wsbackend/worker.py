"""The gunicorn worker: ``gunicorn -k wsbackend.worker.WebSocketWorker module:app``.

gunicorn's gevent pywsgi worker with our handler, so upgrade requests of every protocol
version reach the WSGI application with a socket it can take over. wsbackend's own log lines
(refusals, failures, app exceptions, the session line) go to gunicorn's error log, in its format
and at its ``--log-level``.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from gunicorn.workers.ggevent import GeventPyWSGIWorker, PyWSGIHandler

from .config import ConfigError, active
from .handler import WebSocketHandler
from .metrics import worker_exited

__all__ = ["WebSocketWorker", "log_to_gunicorn"]

WORKER_BOOT_ERROR = 3
"""The exit status that makes gunicorn's arbiter stop rather than start the worker again."""


class GunicornWebSocketHandler(WebSocketHandler, PyWSGIHandler):  # type: ignore[misc]
    """Our handler with gunicorn's access log and environ additions."""


class WebSocketWorker(GeventPyWSGIWorker):  # type: ignore[misc]
    """gunicorn's gevent worker serving WebSockets of every protocol version."""

    wsgi_handler = GunicornWebSocketHandler

    def init_process(self) -> None:
        log_to_gunicorn(self.log)
        try:
            active().check()
        except ConfigError as exc:
            self.log.error("wsbackend: %s", exc)
            sys.exit(WORKER_BOOT_ERROR)
        super().init_process()

    def run(self) -> None:
        try:
            super().run()
        finally:
            worker_exited(os.getpid())


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
