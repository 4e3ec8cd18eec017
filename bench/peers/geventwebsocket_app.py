"""gevent-websocket's documented API, under its ``GeventWebSocketWorker`` for gunicorn."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from geventwebsocket.exceptions import WebSocketError

listeners: set[Any] = set()


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    websocket = environ.get("wsgi.websocket")
    if websocket is None:
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    if not environ.get("PATH_INFO", "").startswith("/broadcast"):
        while (message := websocket.receive()) is not None:
            websocket.send(message)
        return []
    listeners.add(websocket)
    try:
        while (message := websocket.receive()) is not None:
            for other in list(listeners):
                if other is not websocket:
                    try:
                        other.send(message)
                    except WebSocketError:
                        listeners.discard(other)
    finally:
        listeners.discard(websocket)
    return []
