"""Behind real Apache and nginx, configured from the files users copy: every protocol version,
large fragmented and compressed messages and the closing handshake through each proxy, over
ws:// and wss://; the shared-path rule; pages from mod_wsgi beside sockets on one origin."""

from __future__ import annotations

import ssl
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from websockets.sync.client import connect

from tests.e2e.proxies import Proxy, apache, nginx, proxies_available
from tests.e2e.rawclient import HIXIE76_ANSWER, RawClient
from tests.servers import OUR_WORKER, TIME_UNIT, free_port, gunicorn, running

AVAILABLE = proxies_available()
PLAIN_SITE = Path(__file__).with_name("plain_site.py")
LARGE = 1024 * 1024


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def certificate(
    authority: trustme.CA, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    issued = authority.issue_cert("127.0.0.1")
    cert, key = folder / "cert.pem", folder / "key.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    cert.chmod(0o644)
    key.chmod(0o644)
    folder.chmod(0o755)
    return cert, key


@pytest.fixture(scope="module")
def client_tls(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    authority.configure_trust(context)
    return context


@pytest.fixture(scope="module")
def backend_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The backend's output, its access log included: which requests reached it."""
    return tmp_path_factory.mktemp("backend") / "gunicorn.log"


@pytest.fixture(scope="module")
def backend(backend_log: Path) -> Iterator[int]:
    """The gunicorn backend the proxies forward to, serving the sample site."""
    port = free_port()
    argv = gunicorn(OUR_WORKER, "apps.site:application", port, "--access-logfile", "-")
    with running(argv, port, backend_log):
        yield port


@pytest.fixture(scope="module")
def existing_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The pages nginx served before the snippet: a site that knows nothing of wsbackend."""
    port = free_port()
    log = tmp_path_factory.mktemp("site") / "site.log"
    with running([sys.executable, str(PLAIN_SITE), str(port)], port, log):
        yield port


@pytest.fixture(scope="module", params=["apache", "nginx"])
def proxy(
    request: pytest.FixtureRequest,
    backend: int,
    certificate: tuple[Path, Path],
    existing_site: int,
) -> Iterator[Proxy]:
    if not AVAILABLE[request.param]:
        pytest.skip(f"{request.param} is installed by .ci/run")
    if request.param == "apache":
        with apache(backend, *certificate) as running_proxy:
            yield running_proxy
    else:
        with nginx(backend, *certificate, site_port=existing_site) as running_proxy:
            yield running_proxy


@pytest.fixture(params=["ws", "wss"])
def scheme(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def raw_client(proxy: Proxy, scheme: str, tls: ssl.SSLContext) -> RawClient:
    if scheme == "wss":
        return RawClient(proxy.tls_port, tls=tls)
    return RawClient(proxy.http_port)


@pytest.mark.parametrize("key3_after_reply", [False, True], ids=["key-with-head", "key-after-101"])
def test_hixie76_through_the_proxy(
    proxy: Proxy, scheme: str, client_tls: ssl.SSLContext, key3_after_reply: bool
) -> None:
    """The proxy forwards the 8 key bytes only after the 101: the backend answers them then."""
    client = raw_client(proxy, scheme, client_tls)
    response = client.hixie76_handshake(key3_after_reply=key3_after_reply)
    assert response.status == 101
    assert response.body == HIXIE76_ANSWER
    assert response.headers["sec-websocket-location"] == f"{scheme}://127.0.0.1/ws"
    for text in ("through the proxy", "x" * LARGE):
        client.send_hixie_text(text)
        assert client.read_hixie_text() == text
    client.send(b"\xff\x00")
    assert client.read_exact(2) == b"\xff\x00"


def test_hixie75_through_the_proxy(proxy: Proxy, scheme: str, client_tls: ssl.SSLContext) -> None:
    client = raw_client(proxy, scheme, client_tls)
    response = client.hixie75_handshake()
    assert response.status == 101
    assert response.headers["websocket-location"] == f"{scheme}://127.0.0.1/ws"
    client.send_hixie_text("old but alive")
    assert client.read_hixie_text() == "old but alive"
    client.close()


@pytest.mark.parametrize("version", [7, 8, 13])
def test_hybi_through_the_proxy(
    proxy: Proxy, scheme: str, client_tls: ssl.SSLContext, version: int
) -> None:
    """Text, a fragmented 1 MiB binary message with a ping between fragments, clean close."""
    client = raw_client(proxy, scheme, client_tls)
    assert client.hybi_handshake(version, protocols="echo").status == 101
    client.send_frame(0x1, "proxied ✓".encode())
    assert client.read_message() == (0x1, "proxied ✓".encode())
    payload = bytes(index % 253 for index in range(LARGE))
    pieces = [payload[start : start + 100_000] for start in range(0, LARGE, 100_000)]
    client.send_frame(0x2, pieces[0], fin=False)
    client.send_frame(0x9, b"mid-message")
    for piece in pieces[1:-1]:
        client.send_frame(0x0, piece, fin=False)
    client.send_frame(0x0, pieces[-1])
    assert client.read_frame() == (True, 0xA, b"mid-message")
    assert client.read_message() == (0x2, payload)
    assert client.close_handshake(1000) == 1000
    assert client.at_eof()


def test_permessage_deflate_through_the_proxy(
    proxy: Proxy, scheme: str, client_tls: ssl.SSLContext
) -> None:
    port = proxy.tls_port if scheme == "wss" else proxy.http_port
    options = {"ssl": client_tls} if scheme == "wss" else {}
    with connect(f"{scheme}://127.0.0.1:{port}/ws", **options) as ws:  # type: ignore[arg-type]
        assert ws.response.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
        for message in ["compressible " * 20_000, bytes(range(256)) * 400]:
            ws.send(message)
            assert ws.recv() == message


@pytest.mark.parametrize("path", ["/ws", "/ws/", "/ws/deep?x=1", "/live", "/live/", "/live/feed?x"])
def test_socket_paths_reach_the_backend(proxy: Proxy, path: str) -> None:
    client = RawClient(proxy.http_port)
    assert client.hybi_handshake(13, path, protocols="echo").status == 101
    client.send_frame(0x1, b"live")
    assert client.read_message() == (0x1, b"live")


@pytest.mark.parametrize("key3_after_reply", [False, True], ids=["key-with-head", "key-after-101"])
def test_hixie76_on_the_shared_path(proxy: Proxy, key3_after_reply: bool) -> None:
    """hixie's "Upgrade: WebSocket" and its 8 key bytes make it through the shared path's rule."""
    client = RawClient(proxy.http_port)
    response = client.hixie76_handshake("/live/feed", key3_after_reply=key3_after_reply)
    assert response.status == 101
    assert response.body == HIXIE76_ANSWER
    client.send_hixie_text("shared")
    assert client.read_hixie_text() == "shared"


SITE_PATHS = ["/live", "/live/", "/live/feed?x=1", "/wsdocs/", "/lively/", "/wsx", "/"]


def probed(path: str) -> str:
    """``path`` with a query nobody else sends, to find it in the backend's access log."""
    return f"{path}{'&' if '?' in path else '?'}probe={uuid.uuid4().hex}"


def reached_backend(proxy: Proxy, backend_log: Path, path: str) -> bool:
    """Whether ``path`` (just answered) reached the backend: a control request is sent after
    it, and once the control is in the access log, so is ``path`` if it got there."""
    control = probed("/ws/")
    page = RawClient(proxy.http_port)
    page.request([f"GET {control} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"])
    page.read_response()
    deadline = time.monotonic() + 10 * TIME_UNIT
    while control not in backend_log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = backend_log.read_text()
    assert control in log
    return path in log


@pytest.mark.parametrize("path", SITE_PATHS)
def test_the_snippet_takes_no_page_from_the_site(
    proxy: Proxy, backend_log: Path, path: str
) -> None:
    """Plain requests on the shared path, and paths that only begin like a socket path, reach
    the site exactly as they did before the snippet: nginx's separate existing site, Apache's
    pages under mod_wsgi."""
    path = probed(path)
    page = RawClient(proxy.http_port)
    page.request([f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"])
    response = page.read_response()
    assert not reached_backend(proxy, backend_log, path)
    if proxy.name == "nginx":
        assert_from_the_existing_site(response, path)


@pytest.mark.parametrize("path", ["/wsdocs/", "/lively/", "/wsx"])
def test_upgrades_beside_the_socket_paths_stay_with_the_site(
    proxy: Proxy, backend_log: Path, path: str
) -> None:
    path = probed(path)
    response = RawClient(proxy.http_port).hybi_handshake(13, path)
    assert not reached_backend(proxy, backend_log, path)
    if proxy.name == "nginx":
        assert_from_the_existing_site(response, path)
    else:  # mod_wsgi cannot take a socket over: the site says which proxy rule is missing
        assert response.status == 501


def test_plain_requests_on_the_dedicated_path_reach_the_backend(
    proxy: Proxy, backend_log: Path
) -> None:
    """The control for the checks above: the access log does show what reaches the backend."""
    path = probed("/ws/page")
    page = RawClient(proxy.http_port)
    page.request([f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"])
    assert page.read_response().status == 404
    assert reached_backend(proxy, backend_log, path)


def assert_from_the_existing_site(response: Any, path: str) -> None:
    assert response.status == 200
    assert response.headers.get("x-served-by") == "plain-site"
    assert response.body == f"the site's own page for {path}\n".encode()


def test_pages_from_mod_wsgi_and_sockets_on_one_origin(proxy: Proxy) -> None:
    """Apache: the page comes from mod_wsgi, its socket from the backend, same host and port;
    an upgrade that reaches mod_wsgi is answered at once with the rule that is missing."""
    if proxy.name != "apache":
        pytest.skip("mod_wsgi is Apache's")
    page = RawClient(proxy.http_port)
    page.request(["GET /chat/ HTTP/1.1", "Host: 127.0.0.1", "Connection: close"])
    response = page.read_response()
    assert response.status == 200
    assert b"new WebSocket(`${scheme}//${location.host}/ws" in response.body
    assert "gunicorn" not in response.headers.get("server", "")
    socket_client = RawClient(proxy.http_port)
    assert socket_client.hybi_handshake(13, "/ws", protocols="chat").status == 101
    misrouted = RawClient(proxy.http_port)
    response = misrouted.hybi_handshake(13, "/chat/")
    assert response.status == 501
    assert b"upgrade=websocket" in response.body
