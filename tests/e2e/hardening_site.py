"""The site the hardening tests serve: echo, and an app that records every ``on_close``.

``WSBACKEND_TEST_CLOSE_LOG`` names a file that gets one line per closed client, ``pid code``,
so that a test can see that the application heard of each close before the process exited.
"""

from __future__ import annotations

import os

from apps.echo import EchoApp
from wsbackend import Application, AppRegistry, Client, ConnectionSettings, WebSocketMiddleware

CLOSE_LOG_ENV = "WSBACKEND_TEST_CLOSE_LOG"
HANDSHAKE_TIMEOUT = 2.0


class RecordingEcho(EchoApp):
    """Echo, writing a line to the close log when a client goes."""

    def on_close(self, client: Client, code: int, reason: str) -> None:
        path = os.environ.get(CLOSE_LOG_ENV)
        if path:
            with open(path, "a", encoding="ascii") as log:
                log.write(f"{os.getpid()} {code}\n")


recording: Application = RecordingEcho()
application = WebSocketMiddleware(
    None,
    AppRegistry({"echo": recording}, default=recording),
    settings=ConnectionSettings(close_timeout=2.0, handshake_timeout=HANDSHAKE_TIMEOUT),
)
