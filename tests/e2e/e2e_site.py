"""The site the end-to-end tests serve: the sample pages and echo, plus apps that misbehave."""

from __future__ import annotations

import json
from typing import Any

from apps.chat import ChatApp
from apps.cursors import CursorsApp
from apps.echo import EchoApp
from apps.site import pages
from wsbackend import (
    Application,
    AppRegistry,
    Client,
    ConnectionSettings,
    Limits,
    WebSocketMiddleware,
)

MAX_MESSAGE_SIZE = 2 * 1024 * 1024
MAX_SEND_BUFFER = 256 * 1024
SLOW_READER_GRACE = 1.0
ALLOWED_ORIGIN = "https://allowed.example"
PRIVATE_PATH = "/private"
SESSION_COOKIE = "session=valid"
ADMISSIONS_KEY = "e2e.admissions"


class FailingApp(Application):
    """Raises on every message: the server must close that client with 1011 and carry on."""

    def on_message(self, client: Client, message: str | bytes) -> None:
        raise RuntimeError("this app fails on purpose")


class ClosingApp(Application):
    """Closes the connection with the code the client sends as text."""

    def on_message(self, client: Client, message: str | bytes) -> None:
        client.close(int(message), "as requested")


class WhoAmIApp(Application):
    """Tells each client how the server sees it, and how often ``admit`` ran for it."""

    def on_connect(self, client: Client) -> None:
        seen = {"remote_addr": client.remote_addr, "version": client.version}
        client.send(json.dumps({**seen, "admissions": client.environ.get(ADMISSIONS_KEY)}))


def admit(environ: dict[str, Any]) -> bool:
    """The private path needs the site's session cookie. Counts its calls in the environ."""
    environ[ADMISSIONS_KEY] = environ.get(ADMISSIONS_KEY, 0) + 1
    if environ.get("PATH_INFO") != PRIVATE_PATH:
        return True
    return SESSION_COOKIE in str(environ.get("HTTP_COOKIE", ""))


echo = EchoApp()
registry = AppRegistry(
    {
        "echo": echo,
        "chat": ChatApp(),
        "cursors": CursorsApp(),
        "fail": FailingApp(),
        "close": ClosingApp(),
        "whoami": WhoAmIApp(),
    },
    default=echo,
)
application = WebSocketMiddleware(
    pages,
    registry,
    limits=Limits(max_message_size=MAX_MESSAGE_SIZE, max_frame_size=MAX_MESSAGE_SIZE),
    settings=ConnectionSettings(
        max_send_buffer=MAX_SEND_BUFFER, slow_reader_grace=SLOW_READER_GRACE, close_timeout=2.0
    ),
    allowed_origins=[ALLOWED_ORIGIN],
    admit=admit,
)
