"""Bad handshakes get the HTTP status the RFCs name, bad frames the close code, with a log line,
and the server keeps serving the next client."""

from __future__ import annotations

import contextlib
import re
import struct
import time
from pathlib import Path

import pytest

from tests.e2e.e2e_site import MAX_MESSAGE_SIZE
from tests.e2e.rawclient import KEY, UPGRADE, RawClient, echo_works
from tests.servers import free_port, running, wsbackend_serve


@pytest.mark.parametrize(
    ("lines", "status", "header"),
    [
        (["GET /ws HTTP/1.1", *UPGRADE, KEY, "Sec-WebSocket-Version: 99"], 426,
         ("sec-websocket-version", "13, 8, 7")),
        (["GET /ws HTTP/1.1", *UPGRADE, "Sec-WebSocket-Key: abc", "Sec-WebSocket-Version: 13"],
         400, None),
        (["GET /ws HTTP/1.1", *UPGRADE, "Sec-WebSocket-Version: 13"], 400, None),
        (["GET /ws HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", KEY,
          "Sec-WebSocket-Version: 13"], 400, None),
        (["POST /ws HTTP/1.1", *UPGRADE, KEY, "Sec-WebSocket-Version: 13", "Content-Length: 0"],
         405, ("allow", "GET")),
        (["GET /ws HTTP/1.1", *UPGRADE, KEY, "Sec-WebSocket-Version: 13",
          "Sec-WebSocket-Protocol: nope, neither"], 400, None),
        (["GET /ws HTTP/1.1", "Host: 127.0.0.1", "Upgrade: WebSocket", "Connection: Upgrade",
          "Sec-WebSocket-Key1: nospaces123", "Sec-WebSocket-Key2: 1 2"], 400, None),
    ],
    ids=["unknown-version", "short-key", "no-key", "no-connection-upgrade", "post",
         "unserved-subprotocol", "hixie76-bad-key"],
)  # fmt: skip
def test_bad_handshake_is_refused(
    server: int, lines: list[str], status: int, header: tuple[str, str] | None
) -> None:
    # What follows the head (hixie-76's key bytes, or a pipelined request) must not be read as
    # a request of its own: a refusal ends the connection.
    follows = b"12345678" if "hixie76" in str(lines) else b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
    client = RawClient(server)
    client.request(lines, follows)
    response = client.read_response()
    assert response.status == status, response
    if header is not None:
        assert response.headers[header[0]] == header[1]
    assert response.headers.get("connection") == "close", response
    rest = client.read_to_eof()
    assert rest == b"", rest
    client.close()
    assert echo_works(server)


def close_code_after(
    port: int, frames: list[tuple[int, bytes, bool, bool, int]], protocols: str | None = None
) -> int:
    client = RawClient(port)
    assert client.hybi_handshake(13, protocols=protocols).status == 101
    for opcode, payload, fin, mask, rsv in frames:
        client.send_frame(opcode, payload, fin=fin, mask=mask, rsv=rsv)
    opcode, payload = client.read_message()
    assert opcode == 0x8
    with contextlib.suppress(OSError):
        client.send_frame(0x8, payload[:2])
    assert client.at_eof()
    return int(struct.unpack("!H", payload[:2])[0])


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        ([(0x1, b"unmasked", True, False, 0)], 1002),
        ([(0x3, b"", True, True, 0)], 1002),
        ([(0x1, b"rsv2", True, True, 0x20)], 1002),
        ([(0x9, b"x" * 126, True, True, 0)], 1002),
        ([(0x9, b"fragmented ping", False, True, 0)], 1002),
        ([(0x0, b"nothing to continue", True, True, 0)], 1002),
        ([(0x1, b"start", False, True, 0), (0x1, b"again", True, True, 0)], 1002),
        ([(0x1, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80", True, True, 0)], 1007),
        ([(0x1, b"ok so far \xf0\x90", False, True, 0), (0x0, b"\x28", True, True, 0)], 1007),
        ([(0x8, b"\x03\xe8\xff", True, True, 0)], 1007),
        ([(0x8, b"\x03\xed", True, True, 0)], 1002),
        ([(0x2, b"a" * (MAX_MESSAGE_SIZE // 2), False, True, 0),
          (0x0, b"b" * (MAX_MESSAGE_SIZE // 2 + 1), True, True, 0)], 1009),
    ],
    ids=["unmasked", "reserved-opcode", "rsv2", "long-ping", "fragmented-ping",
         "stray-continuation", "interleaved-message", "bad-utf8", "bad-utf8-across-fragments",
         "bad-utf8-close-reason", "reserved-close-code", "oversized-message"],
)  # fmt: skip
def test_bad_frames_close_with_the_rfc_code(
    server: int, frames: list[tuple[int, bytes, bool, bool, int]], code: int
) -> None:
    assert close_code_after(server, frames) == code
    assert echo_works(server)


def test_failing_app_closes_only_its_client_with_1011(server: int) -> None:
    """An exception in on_message closes that client with 1011; others are unaffected."""
    bystander = RawClient(server)
    assert bystander.hybi_handshake(13).status == 101
    assert close_code_after(server, [(0x1, b"boom", True, True, 0)], protocols="fail") == 1011
    bystander.send_frame(0x1, b"unaffected")
    assert bystander.read_message() == (0x1, b"unaffected")
    bystander.close()


def test_vanished_peer_mid_frame_leaves_the_server_serving(server: int) -> None:
    client = RawClient(server)
    assert client.hybi_handshake(13).status == 101
    client.send(b"\x82\xfe\xff\xff")
    client.close()
    assert echo_works(server)


@pytest.mark.parametrize("trickle", [False, True], ids=["silent", "talks-on"])
def test_peer_that_never_hangs_up_after_the_closing_handshake_is_let_go(
    server: int, trickle: bool
) -> None:
    """The closing handshake completes, then the peer keeps its end open, silent or still
    sending: the server half-closes at once (its FIN first, RFC 6455 §7.1.1), waits for the
    peer's at most ``close_timeout`` (2 s on this site), then closes its socket, which the
    kernel answers with a reset to anything the peer sends after. Others are served."""
    client = RawClient(server)
    assert client.hybi_handshake(13).status == 101
    client.send_frame(0x8, struct.pack("!H", 1000))
    assert client.read_frame()[1:] == (0x8, struct.pack("!H", 1000))
    client.sock.settimeout(5)
    assert client.sock.recv(1) == b"", "no FIN from the server after its close frame"
    started = time.monotonic()
    let_go = False
    while not let_go and time.monotonic() - started < 30:
        time.sleep(0.1 if trickle else 0.5)
        try:
            client.sock.send(b"x")  # discarded by the server while it waits
        except OSError:  # reset: the server's socket is closed
            let_go = True
    assert let_go, "the server still held the connection 30 s after the closing handshake"
    assert time.monotonic() - started > 1, "closed before waiting for the peer's FIN"
    client.close()
    assert echo_works(server)


def test_hixie_invalid_utf8_closes_the_connection(server: int) -> None:
    client = RawClient(server)
    assert client.hixie76_handshake().status == 101
    client.send(b"\x00\xc3\x28\xff")
    assert client.at_eof()
    assert echo_works(server)


def test_refusals_and_failures_are_logged(tmp_path: Path) -> None:
    """One clear line per refused handshake and per failed connection, naming the peer."""
    port = free_port()
    log = tmp_path / "serve.log"
    with running(wsbackend_serve(port, "e2e_site:application"), port, log):
        client = RawClient(port)
        client.request(["GET /chat HTTP/1.1", *UPGRADE, KEY, "Sec-WebSocket-Version: 5"])
        assert client.read_response().status == 426
        assert close_code_after(port, [(0x1, b"\xff", True, True, 0)]) == 1007
        # Through a proxy (loopback is trusted by default): the client it names comes first.
        client = RawClient(port)
        forwarded = "X-Forwarded-For: 203.0.113.9"
        client.request(["GET /fwd HTTP/1.1", *UPGRADE, KEY, "Sec-WebSocket-Version: 5", forwarded])
        assert client.read_response().status == 426
    text = log.read_text()
    assert "refused /chat: 426 Upgrade Required: unsupported Sec-WebSocket-Version '5'" in text
    assert "failing the connection with 1007: invalid UTF-8 in text message at byte 0" in text
    assert re.search(r"203\.0\.113\.9 via 127\.0\.0\.1:\d+: refused /fwd: 426", text), text
