"""hixie-76 behind a proxy, over a real socket pair: the 8 key bytes arrive after our 101, so
an application may close or broadcast first (wsbackend/connection/websocket.py with the
endpoint's held frames)."""

from __future__ import annotations

import gevent
from gevent import socket

from wsbackend.connection import ConnectionSettings, WebSocket
from wsbackend.protocol import Endpoint, ProtocolVersion
from wsbackend.protocol.handshake import HixieChallenge
from wsbackend.protocol.hixie import encode_text, key_number

KEY1 = "4 @1  46546xW%0l 1 5"
KEY2 = "12998 5 Y3 1  .P00"
KEY3 = b"^n:ds[4U"
ANSWER = b"8jKS'y:G*Co,Wxa-"
"""draft-hixie-thewebsocketprotocol-76's worked example."""


def pair() -> tuple[WebSocket, socket.socket]:
    server_sock, client_sock = socket.socketpair()
    endpoint = Endpoint(
        ProtocolVersion.HIXIE_76, challenge=HixieChallenge(key_number(KEY1), key_number(KEY2))
    )
    settings = ConnectionSettings(close_timeout=5.0, handshake_timeout=5.0)
    return WebSocket(server_sock, endpoint, settings, peer="test"), client_sock


def read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    with gevent.Timeout(5):
        while len(data) < size:
            chunk = sock.recv(size - len(data))
            assert chunk, f"EOF after {data!r}"
            data += chunk
    return data


def test_close_before_the_key_completes_the_closing_handshake() -> None:
    """The closing frame waits for the answer; the client's key is not read as a frame."""
    websocket, client = pair()
    closer = gevent.spawn(websocket.close)
    gevent.sleep(0.1)
    client.sendall(KEY3)
    assert read_exactly(client, 18) == ANSWER + b"\xff\x00"
    client.sendall(b"\xff\x00")
    closer.get(timeout=5)
    assert websocket.closed
    client.close()
    websocket.release()


def test_broadcast_before_the_key_is_delivered_after_the_answer() -> None:
    """What the chat sample does on join: a prepared frame and a per-peer frame."""
    websocket, client = pair()
    assert websocket.send_prepared(encode_text("members"))
    assert websocket.send_nowait("welcome")
    client.sendall(KEY3 + encode_text("hi"))
    assert websocket.receive() == "hi"
    expected = ANSWER + encode_text("members") + encode_text("welcome")
    assert read_exactly(client, len(expected)) == expected
    client.close()
    websocket.release()
