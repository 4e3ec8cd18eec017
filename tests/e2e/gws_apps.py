"""Applications written for gevent-websocket 0.10.1 and nothing else, as its users write them.

The compatibility tests run this module under gevent-websocket's own worker (the reference) and
under ours, and compare what clients see. Each app records what it observed in ``EVENTS``, which
``GET /events`` returns as JSON, so that the tests can compare the two workers' records too.
"""

from __future__ import annotations

import json
from collections import OrderedDict, defaultdict
from typing import Any

from flask import Flask
from flask_sockets import Sockets
from geventwebsocket import Resource, WebSocketApplication, WebSocketError
from geventwebsocket.protocols.base import BaseProtocol
from werkzeug.routing import Rule

EVENTS: defaultdict[str, list[Any]] = defaultdict(list)
"""What each connection saw, by the ``tag`` in its query string."""


def _tag(environ: dict[str, Any]) -> str:
    return str(environ.get("QUERY_STRING", "")).partition("tag=")[2] or "untagged"


class EchoApplication(WebSocketApplication):
    """gevent-websocket's documented echo app; "close" makes the server close."""

    def on_open(self) -> None:
        self.tag = _tag(self.ws.environ)
        EVENTS[self.tag].append(["open", self.ws.path, self.ws.origin, self.ws.protocol])

    def on_message(self, message: Any) -> None:
        if message is None:
            EVENTS[self.tag].append(["message", None])
            return
        if message == "close":
            self.ws.close()
            return
        self.ws.send(message)

    def on_close(self, reason: Any) -> None:
        EVENTS[self.tag].append(["close", reason])


class NamedProtocol(BaseProtocol):
    PROTOCOL_NAME = "echo.v1"


class NamedEchoApplication(EchoApplication):
    """An app whose protocol has a name: the 101 answers with it when the client offers it."""

    protocol_class = NamedProtocol


class ChatApplication(WebSocketApplication):
    """gevent-websocket's chat example: nicknames on ``handler.active_client``, broadcast to
    every entry of ``handler.server.clients``."""

    def on_message(self, message: Any) -> None:
        if message is None:
            return
        data = json.loads(message)
        if data["msg_type"] == "update_clients":
            self.ws.handler.active_client.nickname = data["nickname"]
            names = [
                getattr(client, "nickname", "anonymous")
                for client in self.ws.handler.server.clients.values()
            ]
            self.ws.send(json.dumps({"msg_type": "update_clients", "clients": sorted(names)}))
        else:
            for client in list(self.ws.handler.server.clients.values()):
                client.ws.send(json.dumps({"msg_type": "message", "content": data["content"]}))


def events_page(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(EVENTS).encode()]


resource = Resource(
    OrderedDict(
        [
            ("^/echo", EchoApplication),
            ("^/named", NamedEchoApplication),
            ("^/chat", ChatApplication),
            ("^/events", events_page),
        ]
    )
)


def plain_loop(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """The ``environ["wsgi.websocket"]`` loop of gevent-websocket's README, then a send after
    the close, caught the way broadcast loops catch it."""
    ws = environ["wsgi.websocket"]
    tag = _tag(environ)
    while True:
        message = ws.receive()
        if message is None:
            break
        ws.send(message)
    EVENTS[tag].append(["closed", ws.closed])
    try:
        ws.send("after the close")
    except WebSocketError as exc:
        EVENTS[tag].append(["send after close", str(exc)])
    try:
        ws.receive()
    except WebSocketError as exc:
        EVENTS[tag].append(["receive after close", str(exc)])
    return []


flask_app = Flask(__name__)
sockets = Sockets(flask_app)


def flask_echo(ws: Any) -> None:
    while not ws.closed:
        message = ws.receive()
        if message is not None:
            ws.send(message)


# What ``@sockets.route("/flask/echo")`` registers, marked as a WebSocket rule: werkzeug >= 1.0
# refuses to match upgrade requests against plain rules (under either worker), and
# flask-sockets 0.2.1's ``route`` drops the ``websocket=True`` option.
sockets.url_map.add(Rule("/flask/echo", endpoint=flask_echo, websocket=True))


@flask_app.route("/flask/")
def flask_page() -> str:
    return "a Flask page"


def application(environ: dict[str, Any], start_response: Any) -> Any:
    path = str(environ.get("PATH_INFO", ""))
    if path.startswith("/flask/"):
        return flask_app(environ, start_response)
    if path.startswith("/loop"):
        return plain_loop(environ, start_response)
    return resource(environ, start_response)


application.app_protocol = resource.app_protocol  # type: ignore[attr-defined]
"""What gevent-websocket's handler asks the top-level application for the subprotocol."""
