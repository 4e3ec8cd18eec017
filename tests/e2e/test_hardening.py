"""Attacks on a real ``wsbackend serve`` process: slow and greedy peers, floods. Each test
bounds its load in count and time and checks that the server stays responsive and bounded."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.hardening_site import HANDSHAKE_TIMEOUT
from tests.e2e.rawclient import HIXIE76_KEY3, RawClient, echo_works, hixie76_head
from tests.servers import TIME_UNIT, free_port, running, wsbackend_serve

SITE = "hardening_site:application"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """(port, pid) of one ``wsbackend serve`` process."""
    port = free_port()
    log = tmp_path_factory.mktemp("hardening") / "serve.log"
    with running(wsbackend_serve(port, SITE), port, log) as process:
        yield port, process.pid


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _round_trip(port: int) -> float:
    client = RawClient(port, timeout=30 * TIME_UNIT)
    try:
        assert client.hybi_handshake(13).status == 101
        start = time.monotonic()
        client.send_frame(0x1, b"probe")
        assert client.read_message() == (0x1, b"probe")
        return time.monotonic() - start
    finally:
        client.close()


def test_hixie76_key_has_a_deadline_not_a_per_read_timeout(served: tuple[int, int]) -> None:
    """One key byte every 0.6 s would keep a per-read timeout happy forever."""
    port, _ = served
    client = RawClient(port, timeout=10 * TIME_UNIT)
    client.request(hixie76_head())
    assert client.read_response().status == 101
    # Each byte comes well within a per-read timeout, all 8 well past the deadline.
    for byte in HIXIE76_KEY3:
        time.sleep(HANDSHAKE_TIMEOUT / 4)
        try:
            client.send(bytes([byte]))
        except OSError:
            break
    answer = b""
    client.sock.settimeout(3 * TIME_UNIT)
    with contextlib.suppress(ConnectionResetError, TimeoutError):
        while chunk := client.sock.recv(64):
            answer += chunk
    assert len(answer) < 16, "the challenge was answered after the deadline"
    client.close()


class _Greedy(threading.Thread):
    """Pipelines echo traffic as fast as it can, reading the echoes only to keep going."""

    def __init__(self, port: int, seconds: float) -> None:
        super().__init__(daemon=True)
        self.client = RawClient(port, timeout=30 * TIME_UNIT)
        assert self.client.hybi_handshake(13).status == 101
        self.deadline = time.monotonic() + seconds
        self.batch = _masked_frames(b"g" * 32, 2000)

    def run(self) -> None:
        sock = self.client.sock
        reader = threading.Thread(target=self._drain, daemon=True)
        reader.start()
        try:
            while time.monotonic() < self.deadline:
                sock.sendall(self.batch)
        except OSError:
            pass
        finally:
            self.deadline = 0.0

    def _drain(self) -> None:
        sock = self.client.sock
        try:
            while time.monotonic() < self.deadline and sock.recv(1 << 20):
                pass
        except OSError:
            pass


def _masked_frames(payload: bytes, count: int) -> bytes:
    mask = b"\x00\x00\x00\x00"  # a zero mask leaves the payload as it is
    return (struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + payload) * count


def test_a_greedy_client_does_not_starve_another(served: tuple[int, int]) -> None:
    """Before connections took turns, the second client's round trip took seconds."""
    port, _ = served
    greedy = _Greedy(port, seconds=6 * TIME_UNIT)
    greedy.start()
    time.sleep(0.5)
    samples = [_round_trip(port) for _ in range(10)]
    greedy.deadline = 0.0
    greedy.join(10 * TIME_UNIT)
    greedy.client.close()
    # A bound on liveness, not a speed target: bench/bench_hardening.py has the figures.
    assert max(samples) < 2.0 * TIME_UNIT, samples


def test_ping_flood_from_a_peer_that_never_reads_stays_bounded(served: tuple[int, int]) -> None:
    port, pid = served
    flooder = RawClient(port, timeout=10 * TIME_UNIT)
    flooder.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    assert flooder.hybi_handshake(13).status == 101
    before = _rss_kib(pid)
    pings = (struct.pack("!BB", 0x89, 0x80) + b"\x00\x00\x00\x00") * 20_000
    flooder.sock.settimeout(1.0)
    deadline = time.monotonic() + 5 * TIME_UNIT
    sent = 0
    while time.monotonic() < deadline and sent < 2_000_000_000:
        try:
            flooder.sock.sendall(pings)
        except OSError:
            break
        sent += len(pings)
    grown_mib = (_rss_kib(pid) - before) / 1024
    # Before pongs were coalesced, the worker grew by more than twice what was sent.
    assert grown_mib < 1 + (sent >> 20) / 2, f"grew {grown_mib:.1f} MiB on {sent >> 20} MiB"
    assert _round_trip(port) < 10 * TIME_UNIT
    flooder.close()


def test_an_echo_peer_that_never_reads_is_dropped_after_send_timeout(tmp_path: Path) -> None:
    """Replies to a peer that sends and never reads go to its socket at once while it takes
    them, then wait in the queue: once it has taken nothing for ``send_timeout`` it is
    dropped, with a log line, and other clients are served meanwhile and after."""
    port = free_port()
    log = tmp_path / "serve.log"
    argv = wsbackend_serve(port, "--send-timeout", "1", "apps.site:application")
    with running(argv, port, log):
        stuck = RawClient(port, timeout=10 * TIME_UNIT)
        stuck.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        assert stuck.hybi_handshake(13).status == 101
        # A 60,000-byte binary frame under a zero mask key: the payload goes as is.
        frame = struct.pack("!BBH", 0x82, 0x80 | 126, 60_000) + bytes(4) + b"x" * 60_000
        stuck.sock.settimeout(0.5 * TIME_UNIT)
        with contextlib.suppress(OSError):  # a timeout once both ends' buffers are full
            for _ in range(2_000):  # 120 MB at most: far past every buffer on the way
                stuck.sock.sendall(frame)
        assert echo_works(port)  # served while the stuck peer's replies wait
        deadline = time.monotonic() + 10 * TIME_UNIT
        while b"took no data for 1.0 s; dropping it" not in log.read_bytes():
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-2000:]
            time.sleep(0.1)
        assert stuck.at_eof(timeout=5 * TIME_UNIT)
        assert echo_works(port)
        stuck.close()


def test_worker_survives_every_attack_here(served: tuple[int, int]) -> None:
    port, pid = served
    assert _round_trip(port) < 10 * TIME_UNIT
    assert os.path.exists(f"/proc/{pid}")
