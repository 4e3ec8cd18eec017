"""The gunicorn worker: ``gunicorn -k wsbackend.worker.WebSocketWorker module:app``.

gunicorn's gevent pywsgi worker with our handler, so upgrade requests of every protocol
version reach the WSGI application with a socket it can take over.
"""

from __future__ import annotations

import logging
import os

from gunicorn.workers.ggevent import GeventPyWSGIWorker, PyWSGIHandler

from .handler import WebSocketHandler
from .hubs import REDIS_URL_ENV

__all__ = ["WebSocketWorker"]

log = logging.getLogger("wsbackend.worker")


class GunicornWebSocketHandler(WebSocketHandler, PyWSGIHandler):  # type: ignore[misc]
    """Our handler with gunicorn's access log and environ additions."""


class WebSocketWorker(GeventPyWSGIWorker):  # type: ignore[misc]
    """gunicorn's gevent worker serving WebSockets of every protocol version."""

    wsgi_handler = GunicornWebSocketHandler

    def load_wsgi(self) -> None:
        super().load_wsgi()
        hub = getattr(self.wsgi, "hub", None)
        shared = hub.shared if hub is not None else bool(os.environ.get(REDIS_URL_ENV))
        if self.cfg.workers > 1 and not shared and self.age == 1:
            log.warning(
                "%d workers and no hub: app.clients, broadcast and groups stop at each worker; "
                "share them with --redis URL or %s (see README)",
                self.cfg.workers,
                REDIS_URL_ENV,
            )
