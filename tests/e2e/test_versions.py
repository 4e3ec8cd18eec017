"""Every protocol version end to end against our handler, under gunicorn and standalone:
handshake, text and binary echo, large fragmented messages, ping/pong, the closing handshake."""

from __future__ import annotations

import pytest

from tests.e2e.rawclient import HIXIE76_ANSWER, RawClient

LARGE = 1024 * 1024


def test_hixie75_echo_and_close(server: int) -> None:
    """hixie-75: WebSocket-Origin/-Location in the reply, text frames, closing by TCP."""
    client = RawClient(server)
    response = client.hixie75_handshake(protocol="echo")
    assert (response.status, response.reason) == (101, "Web Socket Protocol Handshake")
    assert response.headers["websocket-origin"] == "http://127.0.0.1"
    assert response.headers["websocket-location"] == "ws://127.0.0.1/ws"
    assert response.headers["websocket-protocol"] == "echo"
    client.send_hixie_text("héllo")
    assert client.read_hixie_text() == "héllo"
    big = "x" * LARGE
    client.send_hixie_text(big)
    assert client.read_hixie_text() == big
    client.close()


@pytest.mark.parametrize("key3_after_reply", [False, True], ids=["key-with-head", "key-after-101"])
def test_hixie76_echo_and_close(server: int, key3_after_reply: bool) -> None:
    """hixie-76: the draft's own challenge, answered even when the key bytes come only after
    the 101 head (as reverse proxies send them), then echo and the 0xFF 0x00 close."""
    client = RawClient(server)
    response = client.hixie76_handshake(protocol="echo", key3_after_reply=key3_after_reply)
    assert (response.status, response.reason) == (101, "WebSocket Protocol Handshake")
    assert response.body == HIXIE76_ANSWER
    assert response.headers["sec-websocket-location"] == "ws://127.0.0.1/ws"
    assert response.headers["sec-websocket-origin"] == "http://127.0.0.1"
    assert response.headers["sec-websocket-protocol"] == "echo"
    for text in ("hello", "€uro", "y" * LARGE):
        client.send_hixie_text(text)
        assert client.read_hixie_text() == text
    client.send(b"\xff\x00")
    assert client.read_exact(2) == b"\xff\x00"
    assert client.at_eof()


@pytest.mark.parametrize("version", [7, 8, 13])
def test_hybi_echo_ping_and_close(server: int, version: int) -> None:
    """hybi-07, hybi-08 and RFC 6455: text, binary, a fragmented 1 MiB message with a ping
    between its fragments, and a clean close that the server ends with its FIN."""
    client = RawClient(server)
    response = client.hybi_handshake(version, protocols="no-such-app, echo")
    assert response.status == 101
    assert response.headers["sec-websocket-protocol"] == "echo"
    client.send_frame(0x1, "héllo".encode())
    assert client.read_message() == (0x1, "héllo".encode())
    client.send_frame(0x2, bytes(range(256)))
    assert client.read_message() == (0x2, bytes(range(256)))

    payload = bytes(index % 251 for index in range(LARGE))
    pieces = [payload[start : start + 65536] for start in range(0, LARGE, 65536)]
    client.send_frame(0x2, pieces[0], fin=False)
    client.send_frame(0x9, b"between fragments")
    for piece in pieces[1:-1]:
        client.send_frame(0x0, piece, fin=False)
    client.send_frame(0x0, pieces[-1], fin=True)
    assert client.read_frame() == (True, 0xA, b"between fragments")
    assert client.read_message() == (0x2, payload)

    assert client.close_handshake(1000) == 1000
    assert client.at_eof()


def test_server_initiated_close_carries_the_code(server: int) -> None:
    """An app's close(code, reason) reaches the client as a close frame with that code."""
    client = RawClient(server)
    assert client.hybi_handshake(13, protocols="close").status == 101
    client.send_frame(0x1, b"4001")
    opcode, payload = client.read_message()
    assert opcode == 0x8
    assert payload == b"\x0f\xa1as requested"
    client.send_frame(0x8, payload[:2])
    assert client.at_eof()
