"""The gunicorn worker: ``gunicorn -k wsbackend.worker.WebSocketWorker module:app``.

gunicorn's gevent pywsgi worker with our handler, so upgrade requests of every protocol
version reach the WSGI application with a socket it can take over.
"""

from __future__ import annotations

from gunicorn.workers.ggevent import GeventPyWSGIWorker, PyWSGIHandler

from .handler import WebSocketHandler

__all__ = ["WebSocketWorker"]


class GunicornWebSocketHandler(WebSocketHandler, PyWSGIHandler):  # type: ignore[misc]
    """Our handler with gunicorn's access log and environ additions."""


class WebSocketWorker(GeventPyWSGIWorker):  # type: ignore[misc]
    """gunicorn's gevent worker serving WebSockets of every protocol version."""

    wsgi_handler = GunicornWebSocketHandler
