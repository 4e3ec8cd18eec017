"""The site the end-to-end tests serve: the sample pages and echo, plus apps that misbehave."""

from __future__ import annotations

from apps.echo import EchoApp
from apps.site import pages
from wsbackend import Application, AppRegistry, Client, Limits, WebSocketMiddleware

MAX_MESSAGE_SIZE = 2 * 1024 * 1024


class FailingApp(Application):
    """Raises on every message: the server must close that client with 1011 and carry on."""

    def on_message(self, client: Client, message: str | bytes) -> None:
        raise RuntimeError("this app fails on purpose")


class ClosingApp(Application):
    """Closes the connection with the code the client sends as text."""

    def on_message(self, client: Client, message: str | bytes) -> None:
        client.close(int(message), "as requested")


echo = EchoApp()
registry = AppRegistry({"echo": echo, "fail": FailingApp(), "close": ClosingApp()}, default=echo)
application = WebSocketMiddleware(
    pages,
    registry,
    limits=Limits(max_message_size=MAX_MESSAGE_SIZE, max_frame_size=MAX_MESSAGE_SIZE),
)
