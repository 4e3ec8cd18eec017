"""Graceful stop and reload against real server processes: every client gets its close frame
(1001 on stop, 1012 on reload; hixie-76's 0xFF 0x00), applications get ``on_close``, and the
process exits in bounded time."""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.rawclient import RawClient, Response
from tests.servers import (
    OUR_WORKER,
    TIME_UNIT,
    free_port,
    gunicorn,
    running,
    wait_for_port,
    wsbackend_serve,
)

SITE = "hardening_site:application"


HANDSHAKES: dict[str, Callable[[RawClient], Response]] = {
    "rfc6455": lambda client: client.hybi_handshake(13),
    "hybi08": lambda client: client.hybi_handshake(8),
    "hixie76": lambda client: client.hixie76_handshake(),
}


def _connect(port: int, kind: str = "rfc6455") -> RawClient:
    client = RawClient(port, timeout=10 * TIME_UNIT)
    assert HANDSHAKES[kind](client).status == 101
    return client


def _await_new_workers(port: int) -> None:
    """After a reload, old workers that still drain share the listening socket and answer an
    upgrade they accept with 503 (retry later): retry until a handshake is not refused so
    (bounded), as a client told to retry would."""
    deadline = time.monotonic() + 20 * TIME_UNIT
    while True:
        client = RawClient(port, timeout=10 * TIME_UNIT)
        status = HANDSHAKES["rfc6455"](client).status
        client.close()
        if status != 503 or time.monotonic() > deadline:
            return
        time.sleep(0.2)


def _open_clients(port: int, per_kind: int) -> list[tuple[str, RawClient]]:
    clients = []
    for _ in range(per_kind):
        for kind in HANDSHAKES:
            client = _connect(port, kind)
            # One round trip: the connection is open and served before the signal comes.
            if kind == "hixie76":
                client.send_hixie_text("hi")
                assert client.read_hixie_text() == "hi"
            else:
                client.send_frame(0x1, b"hi")
                assert client.read_message() == (0x1, b"hi")
            clients.append((kind, client))
    return clients


def _expect_close(kind: str, client: RawClient, code: int) -> None:
    """The server's close frame; answer it, as a client does."""
    if kind == "hixie76":
        assert client.read_exact(2) == b"\xff\x00"
        client.send(b"\xff\x00")
    else:
        opcode, payload = client.read_message()
        assert opcode == 0x8
        assert struct.unpack("!H", payload[:2])[0] == code
        client.send_frame(0x8, payload[:2])
    assert client.at_eof(10 * TIME_UNIT)
    client.close()


def _close_codes(path: Path, expected: int, timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout * TIME_UNIT
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = path.read_text().split() if path.exists() else []
        if len(lines) >= 2 * expected:
            break
        time.sleep(0.05)
    return [int(code) for code in lines[1::2]]


def _codes_seen(clients: list[tuple[str, RawClient]], code: int) -> list[int]:
    """The codes ``on_close`` hears: the client's echo of ours; hixie-76 has no codes (1005)."""
    return sorted(1005 if kind == "hixie76" else code for kind, _ in clients)


@pytest.fixture
def close_log(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "closes.log"


def _env(close_log: Path) -> dict[str, str]:
    return {"WSBACKEND_TEST_CLOSE_LOG": str(close_log)}


def _gunicorn(port: int, *extra: str) -> list[str]:
    return gunicorn(OUR_WORKER, SITE, port, "-w", "2", "--graceful-timeout", "10", *extra)


@dataclass(frozen=True)
class Stop:
    """A signal to a running server and what every client must see: a close frame with
    ``code``, then the server exits with 0 or, on a reload, new workers serve."""

    argv: Callable[[int], list[str]]
    signal: signal.Signals
    code: int
    per_kind: int
    exits: bool = True


STOPS = {
    "serve-sigterm": Stop(lambda port: wsbackend_serve(port, SITE), signal.SIGTERM, 1001, 2),
    # Ctrl-C, in one process and under gunicorn's arbiter, which on its own stops at once.
    "serve-ctrl-c": Stop(
        lambda port: wsbackend_serve(port, "--workers", "1", SITE), signal.SIGINT, 1001, 1
    ),
    "serve-2-workers-ctrl-c": Stop(
        lambda port: wsbackend_serve(port, "--workers", "2", SITE), signal.SIGINT, 1001, 1
    ),
    "gunicorn-sigterm": Stop(lambda port: _gunicorn(port), signal.SIGTERM, 1001, 4),
    "gunicorn-reload": Stop(lambda port: _gunicorn(port), signal.SIGHUP, 1012, 4, exits=False),
}


@pytest.mark.parametrize("stop", STOPS.values(), ids=STOPS.keys())
def test_stop_and_reload_close_every_client_and_run_on_close(
    tmp_path: Path, close_log: Path, stop: Stop
) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    with running(stop.argv(port), port, log, _env(close_log)) as process:
        clients = _open_clients(port, stop.per_kind)
        process.send_signal(stop.signal)
        for kind, client in clients:
            _expect_close(kind, client, stop.code)
        if stop.exits:
            assert process.wait(20 * TIME_UNIT) == 0
        assert sorted(_close_codes(close_log, len(clients), 10)) == _codes_seen(clients, stop.code)
        if not stop.exits:
            _await_new_workers(port)
            _open_clients(port, per_kind=1)  # the new workers serve
            assert process.poll() is None
    assert "Traceback" not in log.read_text()


def test_serve_refuses_new_connections_while_draining(tmp_path: Path, close_log: Path) -> None:
    port = free_port()
    argv = wsbackend_serve(port, SITE)
    with running(argv, port, tmp_path / "serve.log", _env(close_log)) as process:
        client = _connect(port)
        process.send_signal(signal.SIGTERM)
        opcode, _ = client.read_message()
        assert opcode == 0x8
        # The client holds the closing handshake open; the listener is already gone.
        with pytest.raises(OSError):
            _connect(port)
        client.close()
        assert process.wait(15 * TIME_UNIT) == 0


def test_gunicorn_binary_upgrade_closes_the_old_workers_clients_with_1012(
    tmp_path: Path, close_log: Path
) -> None:
    """USR2 starts a new master beside the old; stopping the old one hands over with 1012."""
    port = free_port()
    pidfile = tmp_path / "gunicorn.pid"
    # The console script, not ``python -m gunicorn``: gunicorn re-executes its argv, and
    # ``gunicorn/__main__.py`` run as a script shadows the standard library's ``http``.
    argv = [
        str(Path(sys.executable).parent / "gunicorn"),
        *_gunicorn(port, "--pid", str(pidfile))[3:],
    ]
    with running(argv, port, tmp_path / "gunicorn.log", _env(close_log)) as old_master:
        clients = _open_clients(port, per_kind=2)
        old_master.send_signal(signal.SIGUSR2)
        # While the old master lives, the new one writes its PID to ``<pidfile>.2``.
        new_pid = _wait_for_new_master(pidfile.with_name(pidfile.name + ".2"))
        try:
            old_master.send_signal(signal.SIGTERM)
            for kind, client in clients:
                _expect_close(kind, client, 1012)
            old_master.wait(20 * TIME_UNIT)
            wait_for_port(port, _Alive(new_pid))
            _open_clients(port, per_kind=1)
        finally:
            _stop(new_pid)


class _Alive:
    """What ``wait_for_port`` needs of a process we did not start with Popen."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        try:
            state = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, IndexError):
            state = "X"
        if state in ("X", "Z"):
            self.returncode = -1
        return self.returncode


def _wait_for_new_master(pidfile: Path) -> int:
    deadline = time.monotonic() + 20 * TIME_UNIT
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError, ValueError):
            pid = int(pidfile.read_text().strip())
            time.sleep(1.0 * TIME_UNIT)  # its workers boot
            return pid
        time.sleep(0.1)
    raise TimeoutError("no new master after USR2")


def _stop(pid: int) -> None:
    """Stop the new master (started through the old one, so no Popen of ours) by its PID."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20 * TIME_UNIT
    while time.monotonic() < deadline and _Alive(pid).poll() is None:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
