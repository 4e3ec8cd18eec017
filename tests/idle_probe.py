"""Run by tests/test_idle_memory.py in its own process: opens a few WebSockets through our
pywsgi handler and middleware, lets them go idle, and prints how many more of the objects
that only the handshake needed are alive than before (one ``name count`` line each)."""

from __future__ import annotations

import base64
import gc
import io
import os
from collections import Counter

import gevent
from gevent import pywsgi, socket

from apps.echo import EchoApp
from wsbackend import WebSocketMiddleware
from wsbackend.connection import LIVE
from wsbackend.handler import WebSocketHandler
from wsbackend.hosts import Transport
from wsbackend.protocol import HandshakeRequest, Headers
from wsbackend.protocol.handshake import AcceptedHandshake

CONNECTIONS = 5
LEFTOVERS = (
    HandshakeRequest,
    Headers,
    AcceptedHandshake,
    Transport,
    pywsgi.OldMessage,
    io.BufferedReader,
    gevent.Timeout,
)


def upgrade(port: int, deflate: bool) -> socket.socket:
    key = base64.b64encode(os.urandom(16))
    head = (
        b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + b"\r\n"
    )
    if deflate:
        head += b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(head + b"\r\n")
    reply = b""
    with gevent.Timeout(10):
        while b"\r\n\r\n" not in reply:
            reply += sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 101"), reply
    return sock


def leftovers() -> Counter[str]:
    gc.collect()
    return Counter(type(obj).__name__ for obj in gc.get_objects() if isinstance(obj, LEFTOVERS))


def main() -> None:
    app = WebSocketMiddleware(default_app=EchoApp())
    server = pywsgi.WSGIServer(("127.0.0.1", 0), app, handler_class=WebSocketHandler, log=None)
    server.start()
    before = leftovers()
    clients = [upgrade(server.server_port, deflate=n % 2 == 1) for n in range(CONNECTIONS)]
    with gevent.Timeout(10):
        while len(LIVE) < CONNECTIONS:
            gevent.sleep(0.01)
    gevent.sleep(0.2)
    alive = leftovers()
    alive.subtract(before)
    print("connections", len(LIVE))
    for kind in LEFTOVERS:
        print(kind.__name__, alive[kind.__name__])
    for sock in clients:
        sock.close()
    server.stop(timeout=5)


if __name__ == "__main__":
    main()
