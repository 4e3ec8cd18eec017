"""What our pywsgi handler hands on from the request head it parsed (wsbackend/handler.py): the
environ gevent would build, the parsed request itself to the middleware, and hixie-76's answer
in the same write as the head when the key bytes came with the request.

Each test drives one handler over a socket pair in this process, as the server would.
"""

from __future__ import annotations

import contextlib
import io
import struct
from typing import Any

import gevent
import pytest
from gevent import pywsgi, socket
from gevent.event import Event

from wsbackend import Application, WebSocketMiddleware, wsgi
from wsbackend.handler import WebSocketHandler
from wsbackend.protocol import Limits
from wsbackend.requesthead import read_request_head

PLAIN_REQUEST = (
    b"GET /a%20b?x=1 HTTP/1.1\r\n"
    b"Host: example.com\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Length: 0\r\n"
    b"X-Thing: a\r\n"
    b"x-thing: b\r\n"
    b"Cookie: a=1\r\n"
    b"Cookie: b=2\r\n"
    b"Bad_Name: dropped\r\n"
    b"Connection: close\r\n\r\n"
)
RFC6455_REQUEST = (
    b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
HIXIE76_HEAD = (
    b"GET /demo HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\nUpgrade: WebSocket\r\n"
    b"Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nOrigin: http://example.com\r\n\r\n"
)
HIXIE76_KEY3, HIXIE76_ANSWER = b"^n:ds[4U", b"8jKS'y:G*Co,Wxa-"
"""draft-hixie-thewebsocketprotocol-76 §1.3's worked example."""
CLOSE_FRAME = bytes([0x88, 0x82, 0, 0, 0, 0]) + struct.pack("!H", 1000)


class RecordingSocket:
    """A socket that records what is passed to ``send`` and ``sendall``, for the server's side
    (what ``send`` did not take is recorded again by the ``sendall`` that follows it)."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.writes: list[bytes] = []

    def send(self, data: bytes, *args: Any) -> int:
        sent: int = self._sock.send(data, *args)
        self.writes.append(bytes(data[:sent]))
        return sent

    def sendall(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self._sock.sendall(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def serve(
    app: Any,
    request: bytes,
    handler_class: type = WebSocketHandler,
    later: bytes = b"",
    log: Any = None,
) -> tuple[RecordingSocket, bytes]:
    """Run ``handler_class`` on one connection that sends ``request``, then ``later`` once the
    server answered; return the server's socket and all that the client received."""
    server_side, client = socket.socketpair()
    recorder = RecordingSocket(server_side)
    server = pywsgi.WSGIServer(("127.0.0.1", 0), app, handler_class=handler_class, log=log)
    client.sendall(request)
    handler = handler_class(recorder, ("127.0.0.1", 40000), server)
    serving = gevent.spawn(handler.handle)
    received = b""
    with gevent.Timeout(10):
        if later:
            while b"\r\n\r\n" not in received:
                received += client.recv(65536)
            client.sendall(later)
        client.shutdown(socket.SHUT_WR)
        serving.join()
        with contextlib.suppress(OSError):  # an environ kept alive may hold a file on it
            server_side.shutdown(socket.SHUT_RDWR)
        server_side.close()
        while chunk := client.recv(65536):
            received += chunk
    client.close()
    return recorder, received


def environ_from(handler_class: type) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]

    _, received = serve(app, PLAIN_REQUEST, handler_class)
    assert received.startswith(b"HTTP/1.1 200 OK")
    return seen


def test_environ_is_what_gevent_builds_from_the_same_head() -> None:
    """The fields go from our parse straight into the environ: same keys and values as
    gevent's own handler gives, repeated fields joined, names with ``_`` dropped."""
    ours, gevents = environ_from(WebSocketHandler), environ_from(pywsgi.WSGIHandler)
    request_keys = {
        key for key in gevents if key.startswith(("HTTP_", "CONTENT_", "PATH_", "QUERY_"))
    }
    assert {key: ours.get(key) for key in request_keys} == {
        key: gevents[key] for key in request_keys
    }
    assert request_keys == {key for key in ours if key.startswith(("HTTP_", "CONTENT_"))} | {
        "PATH_INFO",
        "QUERY_STRING",
    }
    assert (ours["HTTP_X_THING"], ours["HTTP_COOKIE"]) == ("a,b", "a=1; b=2")
    assert (ours["CONTENT_TYPE"], ours["PATH_INFO"]) == ("text/plain", "/a b")
    assert "HTTP_BAD_NAME" not in ours


def test_the_middleware_takes_the_head_the_handler_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No second parse from the environ behind our handler."""

    def not_again(*args: Any) -> Any:
        raise AssertionError("the request was rebuilt from the environ")

    monkeypatch.setattr(wsgi, "request_from_environ", not_again)
    _, received = serve(WebSocketMiddleware(default_app=Application()), RFC6455_REQUEST)
    assert received.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")


def test_a_forwarded_host_still_rebuilds_the_request() -> None:
    """Behind a trusted proxy the Host the client used replaces ours: hixie's Location says it."""
    request = HIXIE76_HEAD.replace(b"\r\n\r\n", b"\r\nX-Forwarded-Host: example.org\r\n\r\n")
    request = request.replace(b"http://example.com", b"http://example.org")
    middleware = WebSocketMiddleware(default_app=Application())
    _, received = serve(middleware, request + HIXIE76_KEY3 + b"\xff\x00")
    assert b"Sec-WebSocket-Location: ws://example.org/demo\r\n" in received


def test_hixie76_answer_goes_out_with_the_head_when_the_key_came_with_it() -> None:
    middleware = WebSocketMiddleware(default_app=Application())
    sock, received = serve(middleware, HIXIE76_HEAD + HIXIE76_KEY3 + b"\xff\x00")
    assert sock.writes[0].startswith(b"HTTP/1.1 101 WebSocket Protocol Handshake\r\n")
    # with the answer to the close frame that came with them, in order
    assert sock.writes[0].endswith(b"\r\n\r\n" + HIXIE76_ANSWER + b"\xff\x00")
    assert received.startswith(sock.writes[0])


def test_hixie76_head_goes_out_alone_when_the_key_comes_later() -> None:
    """A proxy forwards the key bytes only after it saw the 101 (see README): the head must not
    wait for them."""
    middleware = WebSocketMiddleware(default_app=Application())
    sock, received = serve(middleware, HIXIE76_HEAD, later=HIXIE76_KEY3 + b"\xff\x00")
    assert sock.writes[0].startswith(b"HTTP/1.1 101 WebSocket Protocol Handshake\r\n")
    assert sock.writes[0].endswith(b"\r\n\r\n")
    assert HIXIE76_ANSWER in received


def test_rfc6455_frames_that_came_with_the_request_are_answered() -> None:
    middleware = WebSocketMiddleware(default_app=Application())
    sock, received = serve(middleware, RFC6455_REQUEST + CLOSE_FRAME)
    assert sock.writes[0].startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert sock.writes[0].endswith(b"\r\n\r\n\x88\x02\x03\xe8")  # our close frame, 1000
    assert received == sock.writes[0]


def test_head_limits_of_the_middleware_apply_when_stricter_than_the_handlers() -> None:
    """The middleware skips its head limits for a head our handler read under the same ones;
    its own stricter limits still refuse it."""
    strict = Limits(max_request_headers=2)
    middleware = WebSocketMiddleware(default_app=Application(), limits=strict)
    _, received = serve(middleware, RFC6455_REQUEST + CLOSE_FRAME)
    assert received.startswith(b"HTTP/1.1 431 ")
    _, received = serve(WebSocketMiddleware(default_app=Application()), RFC6455_REQUEST)
    assert received.startswith(b"HTTP/1.1 101 ")


@pytest.mark.parametrize(
    "request_head",
    [RFC6455_REQUEST, RFC6455_REQUEST.replace(b"Upgrade\r\n", b"close\r\n"), PLAIN_REQUEST],
    ids=["upgrade", "connection-close", "with-a-body"],
)
def test_request_state_is_what_gevents_parse_gives(request_head: bytes) -> None:
    """Taken from our parse for a request without a body, gevent's for one with a body: the
    state gevent's handler goes on with is the same either way."""
    server = pywsgi.WSGIServer(("127.0.0.1", 0), None, log=None)
    states = []
    for parse in (WebSocketHandler.read_request, pywsgi.WSGIHandler.read_request):
        handler = WebSocketHandler(socket.socket(), ("127.0.0.1", 40000), server)
        read = read_request_head(io.BufferedReader(io.BytesIO(request_head)), handler.limits)  # type: ignore[arg-type]
        assert read is not None
        handler._head = read.request
        assert parse(handler, handler.read_requestline())
        states.append(
            (
                handler.requestline,
                handler.command,
                handler.path,
                handler.request_version,
                handler.content_length,
                handler.close_connection,
                handler.headers.items(),
            )
        )
        handler.socket.close()
    assert states[0] == states[1]


def test_a_head_after_empty_lines_is_still_read_within_the_deadline() -> None:
    """Empty lines before a request cut off mid-head: the head is not all here, so it is read
    under ``handshake_timeout`` and the connection ends at the deadline, not never."""
    server_side, client = socket.socketpair()
    server = pywsgi.WSGIServer(("127.0.0.1", 0), None, log=None)
    client.sendall(b"\n\r\n\r\nGET / HTTP/1.1\r\nX: a")
    handler = WebSocketHandler(server_side, ("127.0.0.1", 40000), server)
    handler.handshake_timeout = 0.1
    serving = gevent.spawn(handler.handle)
    serving.join(timeout=10)
    finished = serving.ready()
    serving.kill()
    server_side.close()
    client.close()
    assert finished


@pytest.mark.parametrize("version", [b"HTTP/1.1", b"HTTP/1.0"])
def test_a_target_gevent_splits_is_refused_whatever_the_version(version: bytes) -> None:
    """gevent splits the request line on \\xa0 as on a space: a target holding one is a bad
    request line (400), as gevent's own parse says, on the fast path too."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]

    _, received = serve(app, b"GET /a\xa0b " + version + b"\r\nHost: example.com\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 400 ")


def test_bytes_buffered_by_the_admission_hook_reach_the_websocket() -> None:
    """The head came alone, then the admission hook read from the input while a frame came:
    the frame, now in gevent's buffer, is handed to the WebSocket (and answered)."""
    entered = Event()

    def admit(environ: dict[str, Any]) -> bool:
        entered.set()
        return bool(environ["wsgi.input"].peek(1))

    middleware = WebSocketMiddleware(default_app=Application(), admit=admit)
    server_side, client = socket.socketpair()
    server = pywsgi.WSGIServer(("127.0.0.1", 0), middleware, handler_class=WebSocketHandler)
    client.sendall(RFC6455_REQUEST)
    serving = gevent.spawn(WebSocketHandler(server_side, ("127.0.0.1", 40000), server).handle)
    received = b""
    with gevent.Timeout(10, False):
        entered.wait()
        client.sendall(CLOSE_FRAME)
        while b"\x88" not in received.partition(b"\r\n\r\n")[2]:
            received += client.recv(65536)
    client.shutdown(socket.SHUT_WR)
    serving.join(timeout=10)
    serving.kill()
    server_side.close()
    client.close()
    assert received.startswith(b"HTTP/1.1 101 ")
    assert received.partition(b"\r\n\r\n")[2].startswith(b"\x88")
