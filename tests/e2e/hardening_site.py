"""The site the hardening tests serve: echo, and an app that records every ``on_close``.

``WSBACKEND_TEST_CLOSE_LOG`` names a file that gets one line per closed client, ``pid code``,
so that a test can see that the application heard of each close before the process exited.
"""

from __future__ import annotations

import os

from apps.echo import EchoApp
from wsbackend import Application, AppRegistry, Client, ConnectionSettings, WebSocketMiddleware

CLOSE_LOG_ENV = "WSBACKEND_TEST_CLOSE_LOG"
HOG_FDS_ENV = "WSBACKEND_TEST_HOG_FDS"
"""Descriptors the site holds open, as an application with files and outgoing connections
does: with a low file limit, the server then runs out of them before its connection pool is
full."""
HANDSHAKE_TIMEOUT = 2.0


class RecordingEcho(EchoApp):
    """Echo, writing a line to the close log when a client goes."""

    def on_close(self, client: Client, code: int, reason: str) -> None:
        path = os.environ.get(CLOSE_LOG_ENV)
        if path:
            with open(path, "a", encoding="ascii") as log:
                log.write(f"{os.getpid()} {code}\n")


held_open = [os.open(os.devnull, os.O_RDONLY) for _ in range(int(os.environ.get(HOG_FDS_ENV, "0")))]
recording: Application = RecordingEcho()
application = WebSocketMiddleware(
    None,
    AppRegistry({"echo": recording}, default=recording),
    settings=ConnectionSettings(close_timeout=2.0, handshake_timeout=HANDSHAKE_TIMEOUT),
)
