"""Applications written for gevent-websocket 0.10.1 behave the same under its worker and ours.

``gws_apps`` runs under gevent-websocket's gunicorn worker (the reference) and under ours; every
test asserts one expectation for both, except where a difference is stated in the README.
"""

from __future__ import annotations

import json
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websocket as websocket_client

from tests.e2e.rawclient import HIXIE76_ANSWER, RawClient
from tests.servers import (
    GEVENT_WEBSOCKET_WORKER,
    OUR_WORKER,
    TIME_UNIT,
    free_port,
    gunicorn,
    running,
    scrape,
)

HTTP_TIMEOUT = 10 * TIME_UNIT
"""A worker that does not answer a plain page within this is stuck."""

REFUSAL_LINE = "gevent-websocket's worker speaks only RFC 6455"


@pytest.fixture(scope="module", params=[GEVENT_WEBSOCKET_WORKER, OUR_WORKER], ids=["gws", "ours"])
def compat(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """(worker, port) of one gunicorn process with one worker serving ``gws_apps``."""
    port = free_port()
    log = tmp_path_factory.mktemp("compat") / "server.log"
    with running(gunicorn(request.param, "gws_apps:application", port), port, log):
        yield request.param, port
    text = log.read_text()
    assert "Traceback" not in text
    assert "WORKER TIMEOUT" not in text and "SIGKILL" not in text, "a worker got stuck"


def page(port: int, path: str) -> tuple[int, bytes]:
    """GET ``path``; the worker must answer at once, whatever its sockets are doing."""
    client = RawClient(port, timeout=HTTP_TIMEOUT)
    client.request([f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"])
    response = client.read_response()
    client.close()
    return response.status, response.body


def events(port: int, tag: str, until: str) -> list[Any]:
    """What the connection tagged ``tag`` recorded, once its last record is ``until`` (or
    after ``HTTP_TIMEOUT``)."""
    deadline = time.monotonic() + HTTP_TIMEOUT
    while True:
        status, body = page(port, "/events")
        assert status == 200
        recorded = json.loads(body).get(tag, [])
        if (recorded and recorded[-1][0] == until) or time.monotonic() > deadline:
            return recorded
        time.sleep(0.05)


def opened(port: int, tag: str, version: int = 13) -> RawClient:
    client = RawClient(port)
    assert client.hybi_handshake(version, f"/echo?tag={tag}").status == 101
    return client


OPEN = ["open", "/echo", "http://127.0.0.1", None]


def test_resource_app_clean_close_from_the_client(compat: tuple[str, int]) -> None:
    """Echo, then a close frame from the client: receive() gives None once, then raises, and
    WebSocketApplication.handle() calls on_close once."""
    _, port = compat
    client = opened(port, "clean")
    client.send_frame(0x1, "héllo".encode())
    assert client.read_message() == (0x1, "héllo".encode())
    client.send_frame(0x2, b"\x00\xff")
    assert client.read_message() == (0x2, b"\x00\xff")
    client.send_frame(0x8, struct.pack("!H", 1000))
    assert client.read_message()[0] == 0x8
    assert client.at_eof()
    assert events(port, "clean", until="close") == [OPEN, ["message", None], ["close", None]]


def test_resource_app_close_from_the_server(compat: tuple[str, int]) -> None:
    """ws.close() in on_message: the next receive() raises at once and on_close runs once."""
    _, port = compat
    client = opened(port, "server-close")
    client.send_frame(0x1, b"close")
    assert client.read_message()[0] == 0x8
    client.send_frame(0x8, struct.pack("!H", 1000))
    assert client.at_eof()
    assert events(port, "server-close", until="close") == [OPEN, ["close", None]]


@pytest.mark.parametrize("how", ["reset", "eof"])
def test_resource_app_vanished_peer(compat: tuple[str, int], how: str) -> None:
    """A peer that resets or half-closes without a close frame: on_close runs once and the
    worker goes on answering."""
    _, port = compat
    tag = f"vanished-{how}"
    client = opened(port, tag)
    client.send_frame(0x1, b"still here")
    assert client.read_message() == (0x1, b"still here")
    if how == "reset":
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
    else:
        client.sock.shutdown(socket.SHUT_WR)
    assert events(port, tag, until="close") == [OPEN, ["message", None], ["close", None]]
    client.close()


def test_resource_app_protocol_error(compat: tuple[str, int]) -> None:
    """A frame with a reserved opcode: the connection fails, receive() gives None, then
    on_close runs once."""
    _, port = compat
    client = opened(port, "protocol-error")
    client.send_frame(0x3, b"reserved opcode")
    assert client.read_message()[0] == 0x8
    assert events(port, "protocol-error", until="close") == [
        OPEN,
        ["message", None],
        ["close", None],
    ]


def test_resource_app_serves_old_clients_under_ours(compat: tuple[str, int]) -> None:
    """Under ours, the same app also serves hixie-76 and hybi-08 clients."""
    worker, port = compat
    if worker != OUR_WORKER:
        pytest.skip("gevent-websocket's worker speaks neither")
    client = RawClient(port)
    response = client.hixie76_handshake("/echo?tag=hixie")
    assert response.body == HIXIE76_ANSWER
    client.send_hixie_text("old browser")
    assert client.read_hixie_text() == "old browser"
    client.send(b"\xff\x00")
    assert client.at_eof()
    assert events(port, "hixie", until="close") == [
        ["open", "/echo", "http://127.0.0.1", None],
        ["message", None],
        ["close", None],
    ]
    client = opened(port, "hybi-08", version=8)
    client.send_frame(0x1, b"hybi-08")
    assert client.read_message() == (0x1, b"hybi-08")
    client.close_handshake()
    assert events(port, "hybi-08", until="close")[-1] == ["close", None]


def test_plain_loop_and_send_after_close(compat: tuple[str, int]) -> None:
    """The environ['wsgi.websocket'] loop; afterwards send() and receive() raise what
    ``except geventwebsocket.WebSocketError`` catches, with gevent-websocket's messages."""
    _, port = compat
    ws = websocket_client.create_connection(f"ws://127.0.0.1:{port}/loop?tag=loop", timeout=10)
    ws.send("loop")
    assert ws.recv() == "loop"
    ws.close()
    assert events(port, "loop", until="receive after close") == [
        ["closed", True],
        ["send after close", "Socket is dead"],
        ["receive after close", "Connection is already closed"],
    ]


def test_flask_sockets(compat: tuple[str, int]) -> None:
    """A Flask app with flask-sockets: its socket route and its pages."""
    _, port = compat
    ws = websocket_client.create_connection(f"ws://127.0.0.1:{port}/flask/echo", timeout=10)
    for message in ["flask", "x" * 70_000]:
        ws.send(message)
        assert ws.recv() == message
    ws.close()
    assert page(port, "/flask/") == (200, b"a Flask page")


def chat_client(port: int, nickname: str) -> websocket_client.WebSocket:
    ws = websocket_client.create_connection(f"ws://127.0.0.1:{port}/chat", timeout=10)
    ws.send(json.dumps({"msg_type": "update_clients", "nickname": nickname}))
    json.loads(ws.recv())
    return ws


def test_chat_example_uses_handler_server_clients(compat: tuple[str, int]) -> None:
    """gevent-websocket's chat example: ``ws.handler.server.clients`` lists the open sockets,
    ``ws.handler.active_client`` carries a nickname, and a broadcast reaches everyone."""
    _, port = compat
    alice = chat_client(port, "alice")
    bob = chat_client(port, "bob")
    bob.send(json.dumps({"msg_type": "update_clients", "nickname": "bob"}))
    assert json.loads(bob.recv())["clients"] == ["alice", "bob"]
    alice.send(json.dumps({"msg_type": "message", "content": "hi all"}))
    for ws in (alice, bob):
        assert json.loads(ws.recv()) == {"msg_type": "message", "content": "hi all"}
    alice.close()
    deadline = time.monotonic() + HTTP_TIMEOUT
    names = None
    while names != ["bob"] and time.monotonic() < deadline:
        bob.send(json.dumps({"msg_type": "update_clients", "nickname": "bob"}))
        names = json.loads(bob.recv())["clients"]
    assert names == ["bob"]
    bob.close()


@pytest.fixture(scope="module", params=[GEVENT_WEBSOCKET_WORKER, OUR_WORKER], ids=["gws", "ours"])
def no_default(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, int, Path]]:
    """Our middleware with only an ``echo`` app, under either worker, with metrics."""
    port = free_port()
    folder = tmp_path_factory.mktemp("no-default")
    (folder / "prometheus").mkdir()
    env = {
        "WSBACKEND_METRICS_PATH": "/metrics",
        "PROMETHEUS_MULTIPROC_DIR": str(folder / "prometheus"),
    }
    log = folder / "server.log"
    argv = gunicorn(request.param, "no_default_site:application", port)
    with running(argv, port, log, env=env):
        yield request.param, port, log


def test_refusals_before_the_upgrade_are_counted(no_default: tuple[str, int, Path]) -> None:
    """Under gevent-websocket's worker the middleware refuses before that worker's upgrade;
    those refusals count in the metrics as under ours."""
    worker, port, _ = no_default
    refused = 'wsbackend_handshakes_refused_total{status="%d"}'
    before = scrape(port)
    assert RawClient(port).hybi_handshake(13, protocols="chat").status == 400
    hixie_client = RawClient(port)
    hixie = hixie_client.hixie76_handshake(protocol="echo")  # served under ours
    hixie_client.close()
    after = scrape(port)
    assert after[refused % 400] - before.get(refused % 400, 0) == 1
    if worker == GEVENT_WEBSOCKET_WORKER:
        assert hixie.status == 426
        assert after[refused % 426] - before.get(refused % 426, 0) == 1


@pytest.mark.parametrize("protocols", [None, "chat"], ids=["no-offer", "unserved-offer"])
def test_unserved_subprotocol_is_refused_before_the_upgrade(
    no_default: tuple[str, int, Path], protocols: str | None
) -> None:
    """400 under both workers: gevent-websocket's handler no longer sends 101 first."""
    _, port, _ = no_default
    client = RawClient(port)
    response = client.hybi_handshake(13, protocols=protocols)
    assert response.status == 400
    assert b"subprotocol" in response.body
    client = RawClient(port)
    assert client.hybi_handshake(13, protocols="echo").status == 101
    client.send_frame(0x1, b"served")
    assert client.read_message() == (0x1, b"served")


@pytest.mark.parametrize("hixie", ["hixie75_handshake", "hixie76_handshake"])
def test_hixie_under_gevent_websocket_worker(no_default: tuple[str, int, Path], hixie: str) -> None:
    """Under gevent-websocket's worker hixie clients get 426 naming the versions it speaks,
    one log line each and no traceback; under ours they are served."""
    worker, port, log = no_default
    before = log.read_text().count(REFUSAL_LINE)
    client = RawClient(port)
    response = getattr(client, hixie)(protocol="echo")
    if worker == OUR_WORKER:
        assert response.status == 101
        return
    assert (response.status, response.headers["sec-websocket-version"]) == (426, "13, 8, 7")
    assert b"RFC 6455" in response.body
    assert client.at_eof()
    deadline = time.monotonic() + HTTP_TIMEOUT
    while log.read_text().count(REFUSAL_LINE) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    text = log.read_text()
    assert text.count(REFUSAL_LINE) == before + 1
    assert "Traceback" not in text


def test_stated_differences(compat: tuple[str, int]) -> None:
    """What the README says still differs or is gained: ours refuses a foreign page's origin
    and negotiates permessage-deflate; gevent-websocket does neither."""
    worker, port = compat
    url = f"ws://127.0.0.1:{port}/loop"
    deflate = RawClient(port).hybi_handshake(
        13, "/loop", extra=["Sec-WebSocket-Extensions: permessage-deflate"]
    )
    if worker == OUR_WORKER:
        with pytest.raises(websocket_client.WebSocketBadStatusException) as refused:
            websocket_client.create_connection(url, origin="https://elsewhere.example")
        assert refused.value.status_code == 403
        assert deflate.headers["sec-websocket-extensions"].startswith("permessage-deflate")
    else:
        websocket_client.create_connection(url, origin="https://elsewhere.example").close()
        assert "sec-websocket-extensions" not in deflate.headers


@pytest.mark.parametrize(
    ("offer", "answer"),
    [("echo.v1", "echo.v1"), ("other, echo.v1", "echo.v1"), ("other", None), (None, None)],
)
def test_named_protocol_is_answered(
    compat: tuple[str, int], offer: str | None, answer: str | None
) -> None:
    """A WebSocketApplication whose protocol class has a PROTOCOL_NAME: the 101 names it when
    the client offered it (``app_protocol``), as browsers require."""
    _, port = compat
    client = RawClient(port)
    response = client.hybi_handshake(13, "/named?tag=named", protocols=offer)
    assert response.status == 101
    assert response.headers.get("sec-websocket-protocol") == answer
    client.send_frame(0x1, b"named")
    assert client.read_message() == (0x1, b"named")


def test_message_just_before_the_close_is_served(compat: tuple[str, int]) -> None:
    """A message and the close frame in one packet: a ``while not ws.closed`` loop (the
    flask-sockets recipe) still receives and answers the message first."""
    _, port = compat
    client = RawClient(port)
    assert client.hybi_handshake(13, "/flask/echo").status == 101
    message = struct.pack("!BB", 0x81, 0x80 | 4) + b"\x00" * 4 + b"last"
    close = struct.pack("!BB", 0x88, 0x80 | 2) + b"\x00" * 4 + struct.pack("!H", 1000)
    client.send(message + close)
    assert client.read_message() == (0x1, b"last")
    assert client.read_message()[0] == 0x8
