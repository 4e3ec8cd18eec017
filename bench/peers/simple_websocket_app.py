"""simple-websocket the way flask-sock runs it: a WSGI app under ``gunicorn -k gevent``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from simple_websocket import ConnectionClosed, Server

listeners: set[Server] = set()


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    websocket = Server.accept(environ)
    fanout = environ.get("PATH_INFO", "").startswith("/broadcast")
    if fanout:
        listeners.add(websocket)
    try:
        while True:
            message = websocket.receive()
            if not fanout:
                websocket.send(message)
                continue
            for other in list(listeners):
                if other is not websocket:
                    try:
                        other.send(message)
                    except ConnectionClosed:
                        listeners.discard(other)
    except ConnectionClosed:
        pass
    finally:
        listeners.discard(websocket)
    # What flask-sock does: tells gunicorn the socket is gone, so it writes no HTTP response.
    raise StopIteration
