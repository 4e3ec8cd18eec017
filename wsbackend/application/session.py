"""Drive one client through an application: connect, every message, close."""

from __future__ import annotations

import logging

from ..protocol import CloseCode
from .base import Application
from .client import Client

__all__ = ["run_session"]

log = logging.getLogger("wsbackend.application")


def run_session(app: Application, client: Client) -> None:
    """Call the app's callbacks for ``client`` until the connection ends.

    An exception from the app is logged and closes this client with 1011; it never reaches
    the server, so other clients are unaffected.
    """
    websocket = client.websocket
    directory = app.directory
    directory.add(client)
    try:
        app.on_connect(client)
        receive = websocket.receive
        on_message = app.on_message
        while (message := receive()) is not None:
            on_message(client, message)
    except Exception:
        log.exception("%s: %s raised; closing the client with 1011", client.id, type(app).__name__)
        websocket.close(CloseCode.INTERNAL_ERROR, "internal error")
    finally:
        directory.remove(client)
        code = websocket.close_code
        try:
            app.on_close(
                client, CloseCode.ABNORMAL_CLOSURE if code is None else code, websocket.close_reason
            )
        except Exception:
            log.exception("%s: %s.on_close raised", client.id, type(app).__name__)
