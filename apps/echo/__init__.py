"""Echo: every message comes straight back, text as text and binary as binary."""

from __future__ import annotations

from wsbackend import Application, Client


class EchoApp(Application):
    """Sends each message back to the client that sent it."""

    def on_message(self, client: Client, message: str | bytes) -> None:
        client.send(message)
