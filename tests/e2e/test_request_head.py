"""Strict at the door, against running servers: request-head limits (431), one deadline for the
whole head, upgrade requests parsed as strictly as the RFCs allow, and hixie-76 behind a proxy.
Each refusal leaves the server serving the next client."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.e2e.rawclient import (
    HIXIE76_ANSWER,
    HIXIE76_KEY1,
    HIXIE76_KEY2,
    KEY,
    UPGRADE,
    RawClient,
    echo_works,
)
from tests.servers import TIME_UNIT, free_port, running, wsbackend_serve

HYBI = ["GET /ws HTTP/1.1", *UPGRADE, KEY, "Sec-WebSocket-Version: 13"]
HIXIE76 = [
    "GET /ws HTTP/1.1", "Host: 127.0.0.1", "Connection: Upgrade", "Upgrade: WebSocket",
    f"Sec-WebSocket-Key1: {HIXIE76_KEY1}", f"Sec-WebSocket-Key2: {HIXIE76_KEY2}",
]  # fmt: skip
BIG_FIELDS = [f"X-Filler-{n}: {'f' * 1000}" for n in range(20)]
"""20 KB in fields each within gunicorn's own limits, over our 16 KiB."""


def status_of(port: int, lines: list[str], body: bytes = b"") -> int:
    client = RawClient(port)
    client.request(lines, body)
    status = client.read_response().status
    client.close()
    return status


@pytest.mark.parametrize(
    "lines",
    [
        [*HYBI, f"X-Big: {'x' * 20_000}"],
        [*HYBI, *BIG_FIELDS],
        [*HYBI, *(f"X-{n}: y" for n in range(200))],
        ["GET / HTTP/1.1", "Host: 127.0.0.1", f"Cookie: {'c' * 60_000}"],
    ],
    ids=["one-large-field", "many-large-fields", "too-many-fields", "plain-request"],
)
def test_oversized_heads_get_431(server: int, lines: list[str]) -> None:
    assert status_of(server, lines) == 431
    assert echo_works(server)


@pytest.mark.parametrize(
    ("lines", "body"),
    [
        ([*HYBI, "Content-Length: 6"], b"\x81\x80\x00\x00\x00\x00"),
        ([*HYBI, "Transfer-Encoding: chunked"], b"0\r\n\r\n"),
        ([*HYBI, "Transfer-Encoding: chunked", "Content-Length: 5"], b"0\r\n\r\n"),
        (["GET /ws HTTP/1.1", "Host: 127.0.0.1", "Upgrade : websocket", "Connection: Upgrade",
          KEY, "Sec-WebSocket-Version: 13"], b""),
        ([*HYBI, "X-Nul: a\x00b"], b""),
        ([*HYBI, "X-Cr: a\rb"], b""),
        ([*HYBI, "X-Fold: a", " b"], b""),
        ([*HIXIE76[:-1]], b"12345678"),
    ],
    ids=["content-length", "chunked", "chunked-and-length", "space-before-colon", "nul", "bare-cr",
         "obs-fold", "hixie76-one-key"],
)  # fmt: skip
def test_malformed_upgrades_get_400(server: int, lines: list[str], body: bytes) -> None:
    """websockets 17.4 refuses each of these; none may reach 101 or the site's page."""
    assert status_of(server, lines, body) == 400
    assert echo_works(server)


POST = ["POST / HTTP/1.1", "Host: 127.0.0.1"]
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.mark.parametrize(
    ("lines", "body", "status"),
    [
        ([*POST, "Content-Length: 1", "Content-Length: 2"], b"ab", 400),
        ([*POST, "Content-Length: 1, 2"], b"ab", 400),
        ([*POST, "Content-Length: +2"], b"ab", 400),
        ([*POST, "Transfer-Encoding: chunked", "Content-Length: 5"], b"0\r\n\r\n", 400),
        ([*POST, "Transfer-Encoding: identity, chunked"], b"0\r\n\r\n", 501),
        ([*POST, "Transfer-Encoding: chunked, identity"], b"0\r\n\r\n", 400),
        (["POST / HTTP/1.0", "Host: 127.0.0.1", "Transfer-Encoding: chunked"], b"0\r\n\r\n",
         400),
        (["GET / HTTP/1.1"], b"", 400),
        (["GET / HTTP/1.1", "Host: a", "Host: b"], b"", 400),
    ],
    ids=["two-lengths", "length-list", "signed-length", "chunked-and-length", "identity-chunked",
         "chunked-not-last", "chunked-in-1.0", "no-host", "two-hosts"],
)  # fmt: skip
def test_requests_of_uncertain_length_are_refused_and_the_connection_closed(
    server: int, lines: list[str], body: bytes, status: int
) -> None:
    """RFC 9112 §3.2, §6.1, §6.3: a page request whose end a proxy could read differently
    (request smuggling) is refused, and nothing after it is read as a request."""
    client = RawClient(server)
    client.request(lines, body + SMUGGLED)
    response = client.read_response()
    assert response.status == status, response
    assert response.headers.get("connection") == "close", response
    rest = client.read_to_eof()
    assert rest == b"", rest
    client.close()
    assert echo_works(server)


@pytest.mark.parametrize(
    ("lines", "body"),
    [
        ([*POST, "Content-Length: 2", "Content-Length: 2"], b"ab"),
        ([*POST, "Transfer-Encoding: Chunked"], b"2\r\nab\r\n0\r\n\r\n"),
        (["GET / HTTP/1.0"], b""),
    ],
    ids=["same-length-twice", "chunked", "1.0-without-host"],
)  # fmt: skip
def test_requests_of_certain_length_are_served(server: int, lines: list[str], body: bytes) -> None:
    assert status_of(server, lines, body) == 200


def test_upgrade_is_a_token_not_a_substring(server: int) -> None:
    lines = ["GET /ws HTTP/1.1", "Host: 127.0.0.1", "Upgrade: notwebsocket",
             "Connection: Upgrade", KEY, "Sec-WebSocket-Version: 13"]  # fmt: skip
    assert status_of(server, lines) != 101


def test_other_hosts_refuse_oversized_upgrades_with_431(plain_gevent_worker: int) -> None:
    """Under gunicorn's parser the head is held before we see it (gunicorn's own limits bound
    it); the middleware still refuses an upgrade over ours."""
    assert status_of(plain_gevent_worker, [*HYBI, *BIG_FIELDS]) == 431
    assert status_of(plain_gevent_worker, [*HIXIE76, *BIG_FIELDS], b"12345678") == 431


def test_trickled_head_is_cut_off_by_one_deadline(standalone: int) -> None:
    """A byte every 0.5 s never trips a per-read timeout; the head deadline (10 s by default)
    ends it, while other clients are served."""
    head = ("\r\n".join(HYBI) + "\r\n" + "X-Slow: " + "s" * 200).encode()
    client = RawClient(standalone)
    client.sock.settimeout(0.5 * TIME_UNIT)
    give_up = time.monotonic() + 60 * TIME_UNIT
    cut_off = False
    for sent, byte in enumerate(head):
        if time.monotonic() > give_up:
            break
        try:
            client.send(bytes([byte]))
            cut_off = client.sock.recv(1) == b""
        except TimeoutError:
            pass
        except OSError:
            cut_off = True
        if cut_off:
            break
        if sent % 8 == 0:
            assert echo_works(standalone)
    assert cut_off, "the trickling client was still connected after 60 s"
    client.close()
    assert echo_works(standalone)


def test_a_stalled_head_after_empty_lines_is_cut_off_by_the_deadline(standalone: int) -> None:
    """Empty lines before the request line are skipped (RFC 9112 §2.2): a head that follows
    them and then stalls is still read under the head deadline, not read to the end because
    a blank line made it look whole."""
    client = RawClient(standalone)
    client.sock.settimeout(60 * TIME_UNIT)
    client.send(b"\n\r\n\r\nGET /ws HTTP/1.1\r\nX-Stalled: a")
    try:
        cut_off = client.sock.recv(1) == b""
    except TimeoutError:
        cut_off = False
    except OSError:
        cut_off = True
    assert cut_off, "the stalled head was still open after 60 s (the deadline is 10 s)"
    client.close()
    assert echo_works(standalone)


def test_refusals_are_one_line_each(tmp_path: Path) -> None:
    """No traceback: each refused head logs one line naming the peer and the status."""
    port = free_port()
    log = tmp_path / "serve.log"
    with running(wsbackend_serve(port, "e2e_site:application"), port, log):
        for _ in range(3):
            assert status_of(port, [*HYBI, f"X-Big: {'x' * 20_000}"]) == 431
            assert status_of(port, [*HYBI, *(f"X-{n}: y" for n in range(200))]) == 431
            assert status_of(port, [*HYBI, "X-Nul: a\x00b"]) == 400
        assert echo_works(port)
    text = log.read_text()
    assert "Traceback" not in text
    refusals = [line for line in text.splitlines() if "refused the request head" in line]
    assert len(refusals) == 9
    assert sum("431 Request Header Fields Too Large" in line for line in refusals) == 6
    assert all("127.0.0.1:" in line for line in refusals)


@pytest.mark.parametrize("key3_after_reply", [False, True], ids=["key-with-head", "key-after-101"])
def test_hixie76_chat_member_gets_its_member_list(server: int, key3_after_reply: bool) -> None:
    """Behind Apache and nginx the key arrives after our 101, after the chat app's broadcast
    of the member list: that broadcast waits for the challenge's answer instead of being lost."""
    client = RawClient(server)
    response = client.hixie76_handshake(
        "/ws?nick=hixie&room=h76", protocol="chat", key3_after_reply=key3_after_reply
    )
    assert response.status == 101
    assert response.body == HIXIE76_ANSWER
    kinds = []
    for _ in range(3):
        message = json.loads(client.read_hixie_text())
        kinds.append(message["type"])
        if message["type"] == "members":
            assert "hixie" in message["members"]
            break
    assert kinds == ["welcome", "members"]
    client.close()
