"""The connection limit (503 past it) and running out of file descriptors, on real servers."""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path

from tests.e2e.hardening_site import HOG_FDS_ENV
from tests.e2e.rawclient import RawClient, echo_works
from tests.servers import (
    OUR_WORKER,
    TIME_UNIT,
    free_port,
    gunicorn,
    running,
    scrape,
    wsbackend_serve,
)

SITE = "hardening_site:application"


def _connection_limit_holds(port: int, limit: int) -> None:
    held = []
    for _ in range(limit):
        client = RawClient(port, timeout=10 * TIME_UNIT)
        assert client.hybi_handshake(13).status == 101
        held.append(client)
    refused = RawClient(port, timeout=10 * TIME_UNIT)
    response = refused.hybi_handshake(13)
    assert response.status == 503
    assert response.headers["retry-after"] == "1"
    refused.close()
    held.pop().close_handshake()
    deadline = time.monotonic() + 10 * TIME_UNIT
    while not echo_works(port, 10 * TIME_UNIT):  # the freed slot is taken again
        assert time.monotonic() < deadline
        time.sleep(0.1)
    for client in held:
        client.close()


def test_serve_answers_503_past_max_connections(tmp_path: Path) -> None:
    port = free_port()
    argv = wsbackend_serve(port, SITE, "--max-connections", "3")
    with running(argv, port, tmp_path / "serve.log"):
        _connection_limit_holds(port, 3)
    log = (tmp_path / "serve.log").read_text()
    assert log.count("the limit: answering 503") == 1


def test_gunicorn_worker_connections_is_the_limit_and_is_logged(tmp_path: Path) -> None:
    """... and its 503s are counted as refused handshakes."""
    port = free_port()
    argv = gunicorn(OUR_WORKER, SITE, port, "--worker-connections", "3")
    (tmp_path / "prometheus").mkdir()
    env = {
        "WSBACKEND_METRICS_PATH": "/metrics",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
    }
    with running(argv, port, tmp_path / "gunicorn.log", env):
        _connection_limit_holds(port, 3)
        # At least the one _connection_limit_holds saw; more while the freed slot is retaken.
        assert scrape(port).get('wsbackend_handshakes_refused_total{status="503"}', 0) >= 1
    assert "up to 3 WebSocket connections" in (tmp_path / "gunicorn.log").read_text()


def test_out_of_descriptors_pauses_accepting_with_one_line_and_recovers(tmp_path: Path) -> None:
    """Idle TCP connections past the file limit: no traceback storm, and service resumes."""
    port = free_port()
    argv = ["prlimit", "--nofile=150:150", *wsbackend_serve(port, SITE)]
    with running(argv, port, tmp_path / "serve.log", {HOG_FDS_ENV: "60"}):
        idle = []
        with contextlib.ExitStack() as stack:
            for _ in range(200):
                sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), 5))
                idle.append(sock)
            time.sleep(1.0 * TIME_UNIT)
        deadline = time.monotonic() + 15 * TIME_UNIT
        while not echo_works(port, 10 * TIME_UNIT):
            assert time.monotonic() < deadline
            time.sleep(0.2)
    log = (tmp_path / "serve.log").read_text()
    assert log.count("out of file descriptors") == 1
    assert "Traceback" not in log
    assert "Too many open files" not in log


def test_every_slot_taken_by_idle_sockets_is_logged_and_passes(tmp_path: Path) -> None:
    """Sockets that never finish a request head hold a slot each until handshake_timeout. With
    every slot taken, new connections wait in the listen queue: the operator gets one line
    saying so, and the server serves again once the heads time out."""
    port = free_port()
    log = tmp_path / "serve.log"
    argv = wsbackend_serve(port, "--max-connections", "4", "--handshake-timeout", "2", SITE)
    with running(argv, port, log), contextlib.ExitStack() as stack:
        slots = 4 + 16  # accept_pool_size: the limit and room for the requests past it
        for _ in range(slots + 2):
            stack.enter_context(socket.create_connection(("127.0.0.1", port)))
        deadline = time.monotonic() + 10 * TIME_UNIT
        while "connection slots taken" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        assert f"all {slots} connection slots taken (0 WebSockets" in log.read_text()
        assert echo_works(port, 10 * TIME_UNIT)  # once handshake_timeout ends the idle heads
