"""The request state and environ our handler builds from its own parse of a head
(wsbackend/requestenviron.py): what gevent's handler, and gunicorn's, build from the same bytes.

Each request is served in this process over a socket pair by the handler under test and by the
one it stands in for, and the environs the application saw are compared key by key.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from gevent import pywsgi
from gunicorn.workers.ggevent import PyWSGIHandler

from tests.test_handler_requests import serve
from wsbackend import requestenviron
from wsbackend.handler import WebSocketHandler
from wsbackend.protocol import Limits
from wsbackend.requesthead import read_request_head
from wsbackend.worker import GunicornWebSocketHandler

HEADS = {
    "upgrade": (
        b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\nOrigin: http://example.com\r\n\r\n"
    ),
    "page": (
        b"GET /a%20b/%C3%A9?x=1&y=%20 HTTP/1.1\r\nHost: example.com\r\n"
        b"Content-Type: text/plain\r\nX-Thing: a\r\nx-thing: b\r\nCookie: a=1\r\n"
        b"Cookie: b=2\r\nBad_Name: dropped\r\nAccept: */*\r\n\r\n"
    ),
    "expect-continue": (
        b"GET / HTTP/1.1\r\nHost: example.com\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    ),
    "hixie76-style": (
        b"GET /demo HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\n"
        b"Upgrade: WebSocket\r\nSec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n\r\n"
    ),
}


class AccessLog:
    """Where the handlers log each request: gunicorn's to ``log.access``, gevent's to
    ``log.write``."""

    def access(self, *args: Any) -> None:
        pass

    def write(self, line: str) -> None:
        pass


def environ_seen(handler_class: type, head: bytes) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]

    app.handles_websocket_upgrades = True  # type: ignore[attr-defined] # seen as it comes
    _, received = serve(app, head, handler_class, log=AccessLog())
    assert received.startswith(b"HTTP/1.1 200 OK")
    return seen


def comparable(environ: dict[str, Any]) -> dict[str, Any]:
    """Values as compared: strings and flags as they are, objects (the server's error log, the
    sockets, the input) by type."""
    return {
        key: value if isinstance(value, (str, bool, int, tuple)) else type(value)
        for key, value in environ.items()
        if key != "wsbackend.handler"
    }


@pytest.mark.parametrize("head", HEADS.values(), ids=HEADS.keys())
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [(WebSocketHandler, pywsgi.WSGIHandler), (GunicornWebSocketHandler, PyWSGIHandler)],
    ids=["gevent", "gunicorn"],
)
def test_environ_is_the_one_the_host_builds(ours: type, theirs: type, head: bytes) -> None:
    """Every key and value of the environ built from our parse equals what the host's own
    handler builds; only RAW_URI is ours alone under plain gevent (gunicorn sets it too)."""
    built, expected = environ_seen(ours, head), environ_seen(theirs, head)
    assert comparable(built) == {"RAW_URI": built["RAW_URI"], **comparable(expected)}
    assert built["RAW_URI"] == head.split(b" ")[1].decode()


def test_each_request_of_a_kept_alive_connection_gets_the_hosts_environ() -> None:
    """Requests one after the other on one connection, taken from our parse, from gevent's
    (a body), then from ours again: each environ is the one gevent builds."""
    requests = (
        b"GET /one?a=1 HTTP/1.1\r\nHost: example.com\r\nX-A: 1\r\n\r\n"
        b"POST /two HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n"
        b"Content-Type: text/plain\r\n\r\nabc"
        b"GET /three HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"
    )

    def environs(handler_class: type) -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []

        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            body = environ["wsgi.input"].read()
            seen.append({**comparable(environ), "body": body})
            start_response("200 OK", [("Content-Length", "0")])
            return [b""]

        _, received = serve(app, requests, handler_class, log=AccessLog())
        assert received.count(b"HTTP/1.1 200 OK") == 3
        return seen

    built, expected = environs(WebSocketHandler), environs(pywsgi.WSGIHandler)
    assert [env.pop("RAW_URI") for env in built] == ["/one?a=1", "/two", "/three"]
    assert built == expected
    assert [env["body"] for env in built] == [b"", b"abc", b""]


def test_fields_are_looked_up_as_gevents_parse_gives_them() -> None:
    """The first value of a repeated name, whatever its case; None or the default when absent."""
    head = HEADS["page"].replace(b"Accept:", b"Content-Type: text/html\r\nAccept:")
    block = head.split(b"\r\n", 1)[1]
    theirs = pywsgi.WSGIHandler.MessageClass(None, io.BytesIO(block))  # type: ignore[arg-type]
    read = read_request_head(io.BufferedReader(io.BytesIO(head)), Limits())  # type: ignore[arg-type]
    assert read is not None
    ours = requestenviron.ReadFields(read.request.headers)
    for name in ("x-thing", "X-THING", "Cookie", "content-type", "Accept", "Missing"):
        assert ours.get(name) == theirs.get(name), name
        assert ours.get(name, "-") == theirs.get(name, "-"), name
    assert ours.typeheader == theirs.get("Content-Type") == "text/plain"
    del ours["X-Thing"]
    assert ours.get("x-thing") is None and ("X-Thing", "a") not in ours.items()


def test_input_of_a_page_reads_nothing() -> None:
    page = environ_seen(WebSocketHandler, HEADS["page"])
    assert page["wsgi.input"].read() == b""


def test_environ_keys_remembered_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients choose field names: the names remembered for their environ keys stop growing at
    the bound, the keys stay right past it, and names that come after it are remembered (the
    usual ones are not kept out by names sent once)."""
    monkeypatch.setattr(requestenviron, "_ENVIRON_KEYS", {})
    names = [f"X-Name-{number}" for number in range(3 * requestenviron._MAX_ENVIRON_KEYS)]
    assert [requestenviron.environ_key(name) for name in names] == [
        f"HTTP_X_NAME_{number}" for number in range(len(names))
    ]
    assert len(requestenviron._ENVIRON_KEYS) <= requestenviron._MAX_ENVIRON_KEYS
    assert requestenviron.environ_key("Upgrade") == "HTTP_UPGRADE"
    assert requestenviron._ENVIRON_KEYS["Upgrade"] == "HTTP_UPGRADE"
    assert [requestenviron.environ_key(name) for name in ("Bad_Name", "content-type")] == ["", ""]
