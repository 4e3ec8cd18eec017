"""The WSGI upgrade middleware (wsbackend/wsgi.py), on the paths that need no socket."""

from __future__ import annotations

import io
from typing import Any
from wsgiref.handlers import SimpleHandler
from wsgiref.util import setup_testing_defaults

import pytest

from wsbackend import Application, WebSocketMiddleware
from wsbackend.wsgi import request_from_environ


class StartResponse:
    def __init__(self) -> None:
        self.status = ""
        self.headers: list[tuple[str, str]] = []

    def __call__(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        self.status, self.headers = status, headers


def upgrade_environ(**extra: str) -> dict[str, Any]:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/chat room",
        "QUERY_STRING": "a=1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "example.com",
        "HTTP_UPGRADE": "websocket",
        "HTTP_CONNECTION": "Upgrade",
        "HTTP_SEC_WEBSOCKET_KEY": "dGhlIHNhbXBsZSBub25jZQ==",
        "HTTP_SEC_WEBSOCKET_VERSION": "13",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "4000",
    }
    environ.update(extra)
    return environ


def test_request_from_environ_rebuilds_headers_and_target() -> None:
    request = request_from_environ(upgrade_environ())
    assert request.method == "GET"
    assert request.target == "/chat%20room?a=1"
    assert request.headers.get("Sec-WebSocket-Key") == "dGhlIHNhbXBsZSBub25jZQ=="
    assert request_from_environ(upgrade_environ(RAW_URI="/raw?x")).target == "/raw?x"


def test_plain_requests_go_to_the_site_app() -> None:
    def site(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b"page"]

    middleware = WebSocketMiddleware(site, {"echo": Application()})
    start_response = StartResponse()
    assert middleware({"REQUEST_METHOD": "GET", "PATH_INFO": "/"}, start_response) == [b"page"]
    assert start_response.status == "200 OK"


def test_without_a_site_app_plain_requests_get_404() -> None:
    start_response = StartResponse()
    WebSocketMiddleware(default_app=Application())({"REQUEST_METHOD": "GET"}, start_response)
    assert start_response.status == "404 Not Found"


def test_a_host_without_a_socket_gets_a_clear_501() -> None:
    """Under mod_wsgi (or any server that cannot hand over its socket) an upgrade that reaches
    the application is answered at once with what to configure, never left hanging."""
    start_response = StartResponse()
    body = b"".join(
        WebSocketMiddleware(default_app=Application())(upgrade_environ(), start_response)
    )
    assert start_response.status == "501 Not Implemented"
    assert b"upgrade=websocket" in body and b"proxy_set_header Upgrade" in body


def test_refused_handshake_carries_its_status_and_headers() -> None:
    start_response = StartResponse()
    middleware = WebSocketMiddleware(default_app=Application())
    middleware(upgrade_environ(HTTP_SEC_WEBSOCKET_VERSION="6"), start_response)
    assert start_response.status == "426 Upgrade Required"
    assert ("Sec-WebSocket-Version", "13, 8, 7") in start_response.headers


def test_hosts_that_parse_the_head_themselves_get_the_limits_too() -> None:
    """mod_wsgi's and gunicorn's parsers hold the head before we see it; an upgrade over our
    limits is still a 431 (not a 501, not a 101), and a body on an upgrade a 400."""
    middleware = WebSocketMiddleware(default_app=Application())
    oversized = upgrade_environ(**{f"HTTP_X_FILLER_{n}": "f" * 1000 for n in range(20)})
    start_response = StartResponse()
    middleware(oversized, start_response)
    assert start_response.status == "431 Request Header Fields Too Large"
    start_response = StartResponse()
    middleware(upgrade_environ(CONTENT_LENGTH="6"), start_response)
    assert start_response.status == "400 Bad Request"


@pytest.mark.parametrize(("version", "status"), [("5", b"426"), ("13", b"501")])
def test_refusals_stay_what_they_are_under_a_strict_wsgi_host(version: str, status: bytes) -> None:
    """wsgiref holds applications to PEP 3333, which forbids them hop-by-hop headers such as
    ``Connection``: a refusal (426) and the answer of a host that cannot hand its socket over
    (501) must reach the client as they are, not as wsgiref's 500."""
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    environ.update(
        SERVER_PROTOCOL="HTTP/1.1",
        HTTP_HOST="127.0.0.1",
        HTTP_UPGRADE="websocket",
        HTTP_CONNECTION="Upgrade",
        HTTP_SEC_WEBSOCKET_KEY="dGhlIHNhbXBsZSBub25jZQ==",
        HTTP_SEC_WEBSOCKET_VERSION=version,
    )
    written, errors = io.BytesIO(), io.StringIO()
    SimpleHandler(io.BytesIO(), written, errors, environ).run(WebSocketMiddleware(None))
    assert written.getvalue().split(b" ")[1] == status, (written.getvalue(), errors.getvalue())
