"""What an operator sees under real gunicorn with two workers: wsbackend's log lines in
gunicorn's error log with its timestamps, one line per finished session, and one Prometheus
endpoint that adds up every worker."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.servers import (
    OUR_WORKER,
    TIME_UNIT,
    free_port,
    gunicorn,
    running,
    scrape,
    wsbackend_serve,
)

TIMESTAMP = r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[(\d+)\] \[INFO\]"
SESSION = re.compile(
    TIMESTAMP + r" session peer=127\.0\.0\.1 path=(\S+) version=(\S+) subprotocol=(\S+) "
    r"app=(\S+) duration=[\d.]+s received=(\d+)/(\d+)B sent=(\d+)/(\d+)B close=(\S+) "
    r"closed_by=(\w+)$",
    re.MULTILINE,
)


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """gunicorn with two of our workers, configured the way a gunicorn command line is."""
    folder = tmp_path_factory.mktemp("operations")
    (folder / "prometheus").mkdir()
    env = {
        "WSBACKEND_METRICS_PATH": "/metrics",
        "PROMETHEUS_MULTIPROC_DIR": str(folder / "prometheus"),
    }
    port = free_port()
    argv = gunicorn(OUR_WORKER, "e2e_site:application", port, "--workers", "2")
    with running(argv, port, folder / "gunicorn.log", env=env):
        yield port, folder / "gunicorn.log"


def sessions(log: Path, at_least: int) -> list[tuple[str, ...]]:
    """The session lines' fields: pid, path, version, subprotocol, app, messages and bytes
    received, messages and bytes sent, close code, closed by."""
    deadline = time.monotonic() + 10 * TIME_UNIT
    while True:
        found = [match.groups() for match in SESSION.finditer(log.read_text())]
        if len(found) >= at_least or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_sessions_are_logged_and_counted_across_workers(workers: tuple[int, Path]) -> None:
    port, log = workers
    before = scrape(port)
    already = len(sessions(log, 0))
    opened = 0
    # Several at once, repeatedly, until both workers have served some: bounded in time, not
    # in rounds, since on a loaded machine one worker can win every accept for a while.
    deadline = time.monotonic() + 30 * TIME_UNIT
    while time.monotonic() < deadline:
        with contextlib.ExitStack() as stack:
            clients: list[ClientConnection] = [
                stack.enter_context(connect(f"ws://127.0.0.1:{port}/ws?token=secret"))
                for _ in range(4)
            ]
            opened += len(clients)
            for ws in clients:
                ws.send("hello")
                assert ws.recv() == "hello"
        if len({line[0] for line in sessions(log, already + 4)[already:]}) > 1:
            break
        time.sleep(0.05)  # both workers idle again, either may win the next accepts
    # A session is logged and counted when the server sees the client's FIN, which may come
    # after the client returned: wait for every session opened, not only the first four.
    lines = sessions(log, already + opened)[already:]
    assert len(lines) == opened
    assert len({line[0] for line in lines}) == 2, "both workers served sessions"
    for line in lines:
        assert line[1:4] == ("/ws", "rfc6455", "-")
        assert line[4] == "EchoApp"
        assert int(line[5]) == 1 and int(line[7]) == 1
        assert int(line[6]) > 5 and int(line[8]) > 5
        assert line[9:11] == ("1000", "client")
    closes = 'wsbackend_closes_total{by="client",code="1000"}'
    _wait_for(lambda: _delta(before, scrape(port), closes) == opened)
    after = scrape(port)
    assert _delta(before, after, closes) == opened
    assert _delta(before, after, 'wsbackend_messages_total{direction="received"}') == opened
    received = sum(int(line[6]) for line in lines)
    assert _delta(before, after, 'wsbackend_bytes_total{direction="received"}') == received


def test_open_connections_add_up_over_the_workers(workers: tuple[int, Path]) -> None:
    port, _ = workers
    gauge = 'wsbackend_connections_open{app="ChatApp",version="rfc6455"}'
    with contextlib.ExitStack() as stack:
        for _ in range(6):
            stack.enter_context(
                connect(f"ws://127.0.0.1:{port}/ws", subprotocols=["chat"])  # type: ignore[list-item]
            )
        _wait_for(lambda: scrape(port).get(gauge) == 6)
        for _ in range(3):  # either worker answers the scrape, with the same sum
            assert scrape(port)[gauge] == 6
    _wait_for(lambda: scrape(port)[gauge] == 0)
    assert scrape(port)[gauge] == 0


def test_refusals_failures_and_server_closes_reach_the_log(workers: tuple[int, Path]) -> None:
    port, log = workers
    before = scrape(port)
    with pytest.raises(InvalidStatus):
        connect(f"ws://127.0.0.1:{port}/ws", subprotocols=["nonexistent"])  # type: ignore[list-item]
    with connect(f"ws://127.0.0.1:{port}/ws", subprotocols=["fail"]) as ws:  # type: ignore[list-item]
        ws.send("boom")
        with contextlib.suppress(Exception):
            ws.recv()
    closed_1011 = 'wsbackend_closes_total{by="server",code="1011"}'
    # The server counts the close when the session ends, after the client's FIN: soon, not now.
    _wait_for(lambda: _delta(before, scrape(port), closed_1011) == 1)
    after = scrape(port)
    assert _delta(before, after, 'wsbackend_handshakes_refused_total{status="400"}') == 1
    assert _delta(before, after, closed_1011) == 1
    text = log.read_text()
    assert re.search(TIMESTAMP + r" 127\.0\.0\.1:\d+: refused /ws: 400 Bad Request", text)
    assert re.search(r"\[ERROR\] .*FailingApp raised; closing the client with 1011", text)
    assert "RuntimeError: this app fails on purpose" in text
    assert any(m[4] == "FailingApp" and m[9:11] == ("1011", "server") for m in sessions(log, 1))


@pytest.mark.parametrize(
    "headers",
    [{"X-Forwarded-For": "203.0.113.9"}, {"Forwarded": "for=203.0.113.9"}],
    ids=["x-forwarded-for", "forwarded"],
)
def test_metrics_are_never_served_through_a_proxy(
    workers: tuple[int, Path], headers: dict[str, str]
) -> None:
    port, _ = workers
    with pytest.raises(urllib.error.HTTPError) as refused:
        scrape(port, headers)
    assert refused.value.code == 403


def test_workers_killed_with_sigkill_leave_no_open_connections_behind(tmp_path: Path) -> None:
    """A plain gunicorn command, so no arbiter hook of ours; SIGKILL, so no cleanup in the
    worker: the open-connection gauge still drops the dead workers' connections and counts
    those of the workers that replace them."""
    (tmp_path / "prometheus").mkdir()
    env = {
        "WSBACKEND_METRICS_PATH": "/metrics",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
    }
    port = free_port()
    argv = gunicorn(OUR_WORKER, "e2e_site:application", port, "--workers", "2")
    gauge = 'wsbackend_connections_open{app="EchoApp",version="rfc6455"}'
    with running(argv, port, tmp_path / "gunicorn.log", env=env) as master:
        # gunicorn forks its workers one after the other: the first may answer before the
        # second exists.
        _wait_for(lambda: len(_workers(master.pid)) == 2)
        with contextlib.ExitStack() as stack:
            for _ in range(6):
                stack.enter_context(connect(f"ws://127.0.0.1:{port}/ws"))
            _wait_for(lambda: scrape(port).get(gauge) == 6)
            killed = _workers(master.pid)
            assert len(killed) == 2
            for pid in killed:
                os.kill(pid, signal.SIGKILL)
            _wait_for(lambda: len(_workers(master.pid) - killed) == 2)
        _wait_for(lambda: scrape(port).get(gauge, 0) == 0)
        samples = scrape(port)
        assert samples.get(gauge, 0) == 0
        assert not [name for name in samples for pid in killed if f'pid="{pid}"' in name]
        with connect(f"ws://127.0.0.1:{port}/ws"), connect(f"ws://127.0.0.1:{port}/ws"):
            _wait_for(lambda: scrape(port).get(gauge) == 2)
            assert scrape(port).get(gauge) == 2


def _workers(master: int) -> set[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return {int(pid) for pid in children}


def test_metrics_only_for_allowed_peers(tmp_path: Path) -> None:
    port = free_port()
    env = {"WSBACKEND_METRICS_PATH": "/metrics", "WSBACKEND_METRICS_ALLOW": "10.0.0.0/8"}
    argv = gunicorn(OUR_WORKER, "e2e_site:application", port)
    with running(argv, port, tmp_path / "gunicorn.log", env=env):
        with pytest.raises(urllib.error.HTTPError) as refused:
            scrape(port)
        assert refused.value.code == 403


def test_metrics_are_off_by_default(our_worker: int) -> None:
    with pytest.raises(urllib.error.HTTPError) as missing:
        scrape(our_worker)
    assert missing.value.code == 404


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10 * TIME_UNIT
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


def _delta(before: dict[str, float], after: dict[str, float], name: str) -> float:
    return after.get(name, 0.0) - before.get(name, 0.0)


def test_serve_with_workers_keeps_its_metrics_through_reloads(tmp_path: Path) -> None:
    """``wsbackend serve --workers 2 --metrics-path`` makes the folder every worker writes its
    metrics to. A worker that exits (here at a HUP reload) must not take that folder with it:
    the replacements would then fail every scrape and every handshake."""
    port = free_port()
    argv = wsbackend_serve(
        port, "--workers", "2", "--metrics-path", "/metrics", "e2e_site:application"
    )
    messages = 'wsbackend_messages_total{direction="received"}'
    (tmp_path / "tmp").mkdir()
    env = {"TMPDIR": str(tmp_path / "tmp")}  # where serve makes the folder
    with running(argv, port, tmp_path / "serve.log", env=env) as master:
        _wait_for(lambda: len(_workers(master.pid)) == 2)
        before = _workers(master.pid)
        scrape(port)  # raises on any status but 200
        (folder,) = (tmp_path / "tmp").glob("wsbackend-metrics-*")
        # Each worker writes its metrics file once it loaded the application, after it set
        # its signal handlers: a SIGTERM before then is lost (gunicorn's arbiter handler,
        # inherited at the fork, only queues it), and the old worker would never leave.
        _wait_for(lambda: all(list(folder.glob(f"*_{pid}.db")) for pid in before))
        master.send_signal(signal.SIGHUP)
        # The old workers have left (the folder would have gone with the first of them).
        _wait_for(lambda: not (_workers(master.pid) & before) and len(_workers(master.pid)) == 2)
        assert folder.is_dir()
        for _ in range(4):
            with connect(f"ws://127.0.0.1:{port}/ws") as client:
                client.send("still here")
                assert client.recv(timeout=5 * TIME_UNIT) == "still here"
        _wait_for(lambda: scrape(port).get(messages, 0) >= 4)
        assert scrape(port)[messages] >= 4
        assert master.poll() is None
