"""Run by tests/test_handler.py in its own process: serves a few requests of every kind with
the cycle collector off, then reports which handler objects only the collector could free."""

from __future__ import annotations

import gc
import struct

import gevent
from gevent import pywsgi, socket

from apps.echo import EchoApp
from wsbackend import ConnectionSettings, WebSocketMiddleware
from wsbackend.config import Config, install
from wsbackend.handler import WebSocketHandler

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
UPGRADE = b"Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
CLOSE_FRAME = bytes([0x88, 0x82, 0, 0, 0, 0]) + struct.pack("!H", 1000)
REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nA: " + b"x" * 20000 + b"\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\n" + b"A: b\r\n" * 200 + b"\r\n",
    b"GET / HTTP/1.1\r\n" + UPGRADE + b"\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n",
    b"GET / HTTP/1.1\r\n" + UPGRADE + b"Sec-WebSocket-Key: " + KEY + b"\r\n\r\n" + CLOSE_FRAME,
]


def site(environ: dict[str, object], start_response: object) -> list[bytes]:
    start_response("200 OK", [("Content-Length", "2")])  # type: ignore[operator]
    return [b"ok"]


def exchange(port: int, request: bytes) -> bytes:
    """Send one request; read until the server closes (the head deadline at the latest);
    return the status line."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request)
        reply = b""
        with gevent.Timeout(10, False):
            while chunk := sock.recv(65536):
                reply += chunk
    return reply.split(b"\r\n", 1)[0]


def main() -> None:
    app = WebSocketMiddleware(site, default_app=EchoApp())
    install(Config(settings=ConnectionSettings(handshake_timeout=1.0)))
    handler = WebSocketHandler
    server = pywsgi.WSGIServer(("127.0.0.1", 0), app, handler_class=handler, log=None)
    server.start()
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    for request in REQUESTS:
        print(exchange(server.server_port, request).decode())
    server.stop(timeout=5)
    gc.collect()
    print(
        "handlers only the collector freed:",
        sum(isinstance(o, WebSocketHandler) for o in gc.garbage),
    )


if __name__ == "__main__":
    main()
