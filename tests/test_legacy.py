"""The gevent-websocket compatibility object (wsbackend/legacy.py) over a real socket pair.

The sequences asserted here are gevent-websocket 0.10.1's (geventwebsocket/websocket.py):
``receive()`` returns None once when the connection ends and raises afterwards, and the site
application's ``current_app.on_close`` hears the same messages at the same moments.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import geventwebsocket
import pytest
from gevent import socket

from wsbackend.connection import ConnectionClosed, ConnectionSettings, WebSocket
from wsbackend.legacy import LegacyServer, LegacyWebSocket, LegacyWebSocketError
from wsbackend.protocol import Endpoint, ProtocolVersion
from wsbackend.protocol.hybi import Opcode, encode_frame

MASK = b"\x01\x02\x03\x04"
ENVIRON = {
    "PATH_INFO": "/chat",
    "HTTP_ORIGIN": "https://site.example",
    "HTTP_SEC_WEBSOCKET_PROTOCOL": "chat, superchat",
    "HTTP_SEC_WEBSOCKET_VERSION": "13",
    "REMOTE_ADDR": "127.0.0.1",
    "REMOTE_PORT": "50312",
}


class SiteApp:
    """A site application with gevent-websocket's optional ``current_app`` hook."""

    def __init__(self) -> None:
        self.current_app = self
        self.closes: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        return []

    def on_close(self, reason: str) -> None:
        self.closes.append(reason)


@pytest.fixture
def site() -> SiteApp:
    return SiteApp()


@pytest.fixture
def connection(site: SiteApp):
    """(legacy socket, client socket, server registry), released afterwards."""
    server_sock, client_sock = socket.socketpair()
    version = ProtocolVersion.RFC_6455
    websocket = WebSocket(server_sock, Endpoint(version), ConnectionSettings(close_timeout=0.5))
    server = LegacyServer(site)
    with server.connected(websocket, dict(ENVIRON)) as legacy:
        yield legacy, client_sock, server
    websocket.release()
    client_sock.close()


def frame(opcode: Opcode, payload: bytes) -> bytes:
    return encode_frame(opcode, payload, mask=MASK)


def test_the_request_as_gevent_websocket_shows_it(connection: Any, site: SiteApp) -> None:
    legacy, _, server = connection
    assert (legacy.path, legacy.origin, legacy.protocol, legacy.version) == (
        "/chat",
        "https://site.example",
        "chat, superchat",
        "13",
    )
    assert legacy.environ["REMOTE_PORT"] == "50312"
    assert legacy.current_app is site
    assert legacy.handler.server is server
    assert legacy.handler.client_address == ("127.0.0.1", 50312)
    assert legacy.handler.active_client.ws is legacy
    assert list(server.clients) == [("127.0.0.1", 50312)]
    assert isinstance(legacy.websocket, WebSocket)


def test_messages_then_none_once_then_the_error(connection: Any, site: SiteApp) -> None:
    legacy, client, _ = connection
    client.sendall(
        frame(Opcode.TEXT, b"one") + frame(Opcode.BINARY, b"two") + frame(Opcode.CLOSE, b"\x03\xe8")
    )
    assert legacy.receive() == "one"
    assert not legacy.closed, "the messages before the close frame come first"
    binary = legacy.receive()
    assert (type(binary), binary) == (bytearray, b"two")
    assert legacy.receive() is None
    assert legacy.closed
    assert site.closes == []
    with pytest.raises(geventwebsocket.WebSocketError, match="Connection is already closed"):
        legacy.receive()
    assert site.closes == ["Connection is already closed"]


def test_vanished_peer_is_reported_as_gevent_websocket_does(connection: Any, site: SiteApp) -> None:
    legacy, client, _ = connection
    client.close()
    assert legacy.receive() is None
    assert site.closes == ["Connection closed"]
    with pytest.raises(LegacyWebSocketError):
        legacy.receive()


def test_send_after_close_raises_what_both_apis_catch(connection: Any, site: SiteApp) -> None:
    legacy, _, _ = connection
    legacy.close()
    with pytest.raises(geventwebsocket.WebSocketError, match="Socket is dead") as caught:
        legacy.send("too late")
    assert isinstance(caught.value, ConnectionClosed)
    assert site.closes == ["Socket is dead"]
    legacy.close()
    assert site.closes == ["Socket is dead", "Connection is already closed"]
    with pytest.raises(LegacyWebSocketError, match="Connection is already closed"):
        legacy.receive()


def test_send_chooses_the_frame_type_as_gevent_websocket_does(connection: Any) -> None:
    legacy, client, _ = connection
    legacy.send("text")
    legacy.send(b"binary")
    legacy.send("as binary", binary=True)
    client.settimeout(5)
    received = b""
    expected = (
        encode_frame(Opcode.TEXT, b"text")
        + encode_frame(Opcode.BINARY, b"binary")
        + encode_frame(Opcode.BINARY, b"as binary")
    )
    while len(received) < len(expected):
        received += client.recv(4096)
    assert received == expected


def test_the_registry_forgets_a_connection_that_ended(site: SiteApp) -> None:
    server_sock, client_sock = socket.socketpair()
    websocket = WebSocket(server_sock, Endpoint(ProtocolVersion.RFC_6455))
    server = LegacyServer(site)
    with server.connected(websocket, dict(ENVIRON)):
        assert len(server.clients) == 1
    assert server.clients == {}
    client_sock.close()
    websocket.release()


def test_without_current_app_closes_are_not_reported() -> None:
    server_sock, client_sock = socket.socketpair()
    websocket = WebSocket(server_sock, Endpoint(ProtocolVersion.RFC_6455))
    legacy = LegacyWebSocket(websocket, dict(ENVIRON), LegacyServer(lambda *args: []))
    client_sock.close()
    assert legacy.receive() is None
    legacy.current_app.on_close("ignored")
    with pytest.raises(LegacyWebSocketError):
        legacy.receive()
    websocket.release()


def test_binary_to_a_hixie_client_raises_what_gevent_websocket_apps_catch() -> None:
    server_sock, client_sock = socket.socketpair()
    websocket = WebSocket(server_sock, Endpoint(ProtocolVersion.HIXIE_75))
    legacy = LegacyWebSocket(websocket, {}, LegacyServer(lambda *args: []))
    assert legacy.version is None
    with pytest.raises(geventwebsocket.WebSocketError, match="binary") as caught:
        legacy.send(b"\x00\x01")
    assert not isinstance(caught.value, ConnectionClosed)
    legacy.send("text still goes")
    client_sock.close()
    websocket.release()


def test_without_gevent_websocket_the_errors_are_still_socket_errors() -> None:
    """Without gevent-websocket installed, the errors derive from OSError, as its own do."""
    code = (
        "import sys; sys.modules['geventwebsocket'] = None\n"
        "from wsbackend.legacy import LegacyConnectionClosed, LegacyWebSocketError\n"
        "from wsbackend.connection import ConnectionClosed\n"
        "from wsbackend import WebSocketMiddleware\n"
        "WebSocketMiddleware(lambda environ, start_response: [])\n"
        "assert issubclass(LegacyWebSocketError, OSError)\n"
        "assert issubclass(LegacyConnectionClosed, ConnectionClosed)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
