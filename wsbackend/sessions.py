"""What each WebSocket session leaves behind: one log line when it ends, and its metrics.

The line is the access log of WebSockets, on the ``wsbackend.session`` logger::

    session peer=203.0.113.5 path=/ws version=rfc6455 subprotocol=chat app=ChatApp
    duration=12.301s received=5/310B sent=7/528B close=1000 closed_by=client

(one line), where ``received=5/310B`` is 5 messages in 310 bytes on the wire, framing
included. ``closed_by`` is ``client``, ``server`` or ``lost`` (no closing handshake; 1006).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from time import monotonic
from typing import Any
from urllib.parse import quote

from .connection import WebSocket
from .connection.websocket import SLOW_READER_REASON
from .metrics import Recorder, recorder

__all__ = ["Session", "handshake_refused"]

log = logging.getLogger("wsbackend.session")


@dataclass(slots=True)
class Session:
    """One accepted WebSocket, from the handshake to :meth:`end`."""

    websocket: WebSocket
    peer: str
    path: str
    app: str
    metrics: Recorder | None
    """This process's metrics when the session started: it is counted out where it was
    counted in."""
    started: float = field(default_factory=monotonic)

    @classmethod
    def start(
        cls, websocket: WebSocket, peer: str, environ: Mapping[str, Any], app: str
    ) -> Session:
        path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
        metrics = recorder()
        if metrics is not None:
            metrics.open.labels(app, websocket.version.value).inc()
        return cls(websocket, peer, path, app, metrics)

    def end(self) -> None:
        """Log the session's line and count it; after ``websocket.release()``."""
        ws = self.websocket
        if log.isEnabledFor(logging.INFO):
            self._log_line()
        metrics = self.metrics
        if metrics is None:
            return
        metrics.open.labels(self.app, ws.version.value).dec()
        metrics.messages.labels("received").inc(ws.messages_received)
        metrics.messages.labels("sent").inc(ws.messages_sent)
        metrics.bytes.labels("received").inc(ws.bytes_received)
        metrics.bytes.labels("sent").inc(ws.bytes_sent)
        metrics.closes.labels(_code_label(ws.close_code), ws.closed_by or "lost").inc()
        if ws.close_reason == SLOW_READER_REASON:
            metrics.overflows.inc()

    def _log_line(self) -> None:
        ws = self.websocket
        code = "-" if ws.close_code is None else str(ws.close_code)
        log.info(
            "session peer=%s path=%s version=%s subprotocol=%s app=%s duration=%.3fs "
            "received=%d/%dB sent=%d/%dB close=%s closed_by=%s",
            self.peer,
            # Quoted: PATH_INFO is decoded, and a %0A or a space must not forge or split the line.
            quote(self.path),
            ws.version.value,
            ws.subprotocol or "-",
            self.app,
            monotonic() - self.started,
            ws.messages_received,
            ws.bytes_received,
            ws.messages_sent,
            ws.bytes_sent,
            code,
            ws.closed_by or "lost",
        )


def _code_label(code: int | None) -> str:
    """The close code as a metric label; the codes peers may choose (3000-4999) share one, so
    that a client cannot create thousands of series."""
    if code is None:
        return "-"
    return "3000-4999" if code >= 3000 else str(code)


def handshake_refused(status: int) -> None:
    """Count a refused opening handshake (its log line is the middleware's)."""
    metrics = recorder()
    if metrics is not None:
        metrics.refused.labels(str(status)).inc()
