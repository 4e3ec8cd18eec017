"""The hosts the WSGI upgrade runs under besides our own handler, gevent-websocket
compatibility, the Flash policy responder, TLS, and several workers."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest
import trustme
import websocket as websocket_client
from websockets.sync.client import connect

from tests.e2e.rawclient import HIXIE76_ANSWER, RawClient
from tests.servers import (
    GEVENT_WEBSOCKET_WORKER,
    OUR_WORKER,
    free_port,
    gunicorn,
    running,
    wsbackend_serve,
)


def echo_roundtrip(url: str, **options: object) -> None:
    with connect(url, **options) as ws:  # type: ignore[arg-type]
        for message in ["text", b"\x00binary\xff", "z" * 200_000]:
            ws.send(message)
            assert ws.recv() == message


@pytest.mark.parametrize("key3_after_reply", [False, True], ids=["key-with-head", "key-after-101"])
def test_plain_gevent_worker_serves_every_version(
    plain_gevent_worker: int, key3_after_reply: bool
) -> None:
    """gunicorn -k gevent: the socket from gunicorn.socket, hixie-76's key from its read-ahead."""
    echo_roundtrip(f"ws://127.0.0.1:{plain_gevent_worker}/ws", subprotocols=["echo"])
    client = RawClient(plain_gevent_worker)
    response = client.hixie76_handshake(key3_after_reply=key3_after_reply)
    assert response.body == HIXIE76_ANSWER
    client.send_hixie_text("through gunicorn's parser")
    assert client.read_hixie_text() == "through gunicorn's parser"
    client.close()


def test_gevent_websocket_worker_runs_our_apps(gws_worker: int) -> None:
    """gevent-websocket's worker answers the RFC 6455 handshake; our app serves the socket."""
    echo_roundtrip(f"ws://127.0.0.1:{gws_worker}/ws")
    with connect(f"ws://127.0.0.1:{gws_worker}/ws", subprotocols=["fail"]) as ws:
        ws.send("boom")
        with pytest.raises(Exception, match="1011"):
            ws.recv(timeout=10)


@pytest.mark.parametrize("host", ["our_worker", "gws_worker", "plain_gevent_worker"])
def test_the_admission_hook_runs_once_per_connection(
    request: pytest.FixtureRequest, host: str
) -> None:
    """gevent-websocket's handler asks our middleware before it upgrades, and runs it after:
    the hook, which may count or log, is asked once."""
    port = request.getfixturevalue(host)
    with connect(f"ws://127.0.0.1:{port}/ws", subprotocols=["whoami"]) as ws:  # type: ignore[list-item]
        assert json.loads(ws.recv(timeout=10))["admissions"] == 1


@pytest.fixture(scope="module", params=[GEVENT_WEBSOCKET_WORKER, OUR_WORKER], ids=["gws", "ours"])
def legacy_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    port = free_port()
    log = tmp_path_factory.mktemp("legacy") / "server.log"
    with running(gunicorn(request.param, "legacy_app:application", port), port, log):
        yield request.param, port


def test_gevent_websocket_app_runs_unchanged(legacy_app: tuple[str, int]) -> None:
    """An app written for environ['wsgi.websocket'] runs under both workers; under ours it
    also serves hixie-76 and hybi-08 clients, and its plain pages still work."""
    worker, port = legacy_app
    ws = websocket_client.create_connection(f"ws://127.0.0.1:{port}/", timeout=10)
    ws.send("legacy")
    assert ws.recv() == "legacy"
    ws.close()
    page = RawClient(port)
    page.request(["GET / HTTP/1.1", "Host: 127.0.0.1", "Connection: close"])
    assert page.read_response().body == b"a plain page from the legacy app\n"
    if worker != OUR_WORKER:
        return
    client = RawClient(port)
    assert client.hixie76_handshake().body == HIXIE76_ANSWER
    client.send_hixie_text("old browser")
    assert client.read_hixie_text() == "old browser"
    client = RawClient(port)
    assert client.hybi_handshake(8).status == 101
    client.send_frame(0x1, b"hybi-08")
    assert client.read_message() == (0x1, b"hybi-08")


def test_flash_policy_is_answered_when_configured(tmp_path: Path) -> None:
    """<policy-file-request/> gets the configured policy and a NUL; HTTP still works."""
    policy = (
        b'<cross-domain-policy><allow-access-from domain="*" to-ports="*"/></cross-domain-policy>'
    )
    (tmp_path / "policy.xml").write_bytes(policy + b"\n")
    port = free_port()
    argv = wsbackend_serve(port, "--flash-policy", str(tmp_path / "policy.xml"))
    with running(argv, port, tmp_path / "serve.log"):
        client = RawClient(port)
        client.send(b"<policy-file-request/>\x00")
        assert client.read_until(b"\x00") == policy + b"\x00"
        assert client.at_eof()
        echo_roundtrip(f"ws://127.0.0.1:{port}/ws")


def test_flash_policy_is_off_by_default(standalone: int) -> None:
    client = RawClient(standalone, timeout=2)
    client.send(b"<policy-file-request/>\x00")
    assert b"cross-domain-policy" not in client.buffer
    assert client.at_eof(timeout=15)


def test_wss_with_certfile_and_keyfile(tmp_path: Path) -> None:
    """wsbackend serve --certfile/--keyfile: wss:// with a test CA."""
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    certificate.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    certificate.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    context = ssl.create_default_context()
    authority.configure_trust(context)
    port = free_port()
    argv = wsbackend_serve(
        port, "--certfile", str(tmp_path / "cert.pem"), "--keyfile", str(tmp_path / "key.pem")
    )
    with running(argv, port, tmp_path / "serve.log"):
        echo_roundtrip(f"wss://127.0.0.1:{port}/ws", ssl=context)
        response = RawClient(port, tls=context).hixie75_handshake()
        assert response.headers["websocket-location"] == "wss://127.0.0.1/ws"


def test_several_workers(tmp_path: Path) -> None:
    """wsbackend serve --workers 2 runs gunicorn with our worker."""
    port = free_port()
    with running(wsbackend_serve(port, "--workers", "2"), port, tmp_path / "serve.log"):
        for _ in range(4):
            echo_roundtrip(f"ws://127.0.0.1:{port}/ws", subprotocols=["echo"])
    assert (tmp_path / "serve.log").read_text().count("Booting worker") == 2
