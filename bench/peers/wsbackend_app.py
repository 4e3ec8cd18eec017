"""wsbackend through its public API, under ``gunicorn -k wsbackend.worker.WebSocketWorker``.

Two WSGI applications, ``wsbackend_app:echo`` and ``wsbackend_app:broadcast``: the suite starts
the one its scenario needs (the worker treats a plain WSGI function as a gevent-websocket style
app, so one cannot dispatch to two middlewares by path).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from wsbackend import Application, AppRegistry, Client, WebSocketMiddleware


class Echo(Application):
    def on_message(self, client: Client, message: str | bytes) -> None:
        client.send(message)


class Fanout(Application):
    def on_message(self, client: Client, message: str | bytes) -> None:
        self.broadcast(message, exclude=client)


def not_found(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("404 Not Found", [("Content-Length", "0")])
    return [b""]


echo = WebSocketMiddleware(not_found, AppRegistry(default=Echo()))
broadcast = WebSocketMiddleware(not_found, AppRegistry(default=Fanout()))
