"""wsbackend's HTTP layer with canned WebSocket work: the floor of a handshake under our worker.

Served by ``gunicorn -k wsbackend.worker.WebSocketWorker wsbackend_canned:application``: the
same accept, request-head parse, environ and socket take-over as every wsbackend upgrade
(gunicorn's worker, gevent's pywsgi server and our handler), then the raw gevent ceiling's own
101 reply and canned frames (``gevent_canned``) instead of wsbackend's handshake checks,
WebSocket, session and application. No WebSocket server behind this HTTP layer can handle
handshakes faster than this does; the gap to the ceiling is what the layer itself costs.
(It takes the socket through ``wsbackend.hosts``, an internal module: a measuring
instrument, not an example.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from gevent_canned import converse, send, upgrade_reply

from wsbackend.hosts import find_transport


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    key = environ["HTTP_SEC_WEBSOCKET_KEY"].encode("latin-1")
    transport = find_transport(environ)
    assert transport is not None, "not served by wsbackend's worker"
    sock = transport.socket
    try:
        send(sock, upgrade_reply(key))
        converse(sock, environ["PATH_INFO"] == "/broadcast", bytearray(transport.initial_data))
    except OSError:  # the client hung up
        pass
    sock.close()
    return transport.response


application.handles_websocket_upgrades = True  # type: ignore[attr-defined]
"""Our handler passes upgrades to it as they are (it would wrap a plain WSGI function in
wsbackend's middleware, gevent-websocket style)."""
