"""Many workers, many hosts, one Redis: chat rooms and member lists span every process.

A real ``redis-server`` on a free loopback port; ``wsbackend serve --workers 3 --redis URL``
and a second ``wsbackend serve --redis URL`` (another "host") serving the sample site. Clients
of several protocol versions land on different workers (the worker's pid is in each guest
nickname, which is ``guest-<client id>``, and client ids start with the pid in hex).
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.e2e.proxies import nginx, proxies_available, world_readable_dir
from tests.e2e.test_apps import Peer
from tests.servers import (
    OUR_WORKER,
    TIME_UNIT,
    free_port,
    gunicorn,
    running,
    wait_for_port,
    wsbackend_serve,
)

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")

PRESENCE_DEADLINE = 30.0
"""The issue's bound for a killed worker's members to vanish from lists."""
RESUME_DEADLINE = 15.0
"""The issue's bound for delivery across processes to resume once Redis is back."""


class RedisServer:
    """``redis-server`` on a loopback port, stopped and started again by the tests."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no"]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.process)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(15 * TIME_UNIT)
        self.process = None


@contextlib.contextmanager
def redis_server(folder: Path, port: int | None = None) -> Iterator[RedisServer]:
    server = RedisServer(port or free_port(), folder / "redis.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Cluster:
    def __init__(self, redis: RedisServer, many: int, single: int, logs: list[Path]) -> None:
        self.redis = redis
        self.many = many
        """Port of ``wsbackend serve --workers 3``."""
        self.single = single
        """Port of the second host, one worker."""
        self.logs = logs


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("hub")
    many, single = free_port(), free_port()
    logs = [folder / "many.log", folder / "single.log"]
    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(redis_server(folder))
        hub = ("--redis", redis.url)
        stack.enter_context(running(wsbackend_serve(many, "--workers", "3", *hub), many, logs[0]))
        stack.enter_context(running(wsbackend_serve(single, *hub), single, logs[1]))
        yield Cluster(redis, many, single, logs)


def guest(port: int, version: str, room: str) -> tuple[Peer, str]:
    """A chat client with a guest nickname; returns it and its nickname."""
    peer = Peer(port, version, f"/ws?room={room}")
    return peer, peer.expect("welcome")["nick"]


def worker_pid(nick: str) -> int:
    """The pid of the worker serving the client called ``nick`` (``guest-<pid hex>-<n>``)."""
    return int(nick.removeprefix("guest-").split("-")[0], 16)


def receive_within(peer: Peer, seconds: float) -> dict[str, object] | None:
    """The next message, or None if none starts arriving within ``seconds``."""
    if not peer.raw.buffer and not select.select([peer.raw.sock], [], [], seconds)[0]:
        return None
    return peer.receive()


def await_members(peer: Peer, room: str, expected: set[str], seconds: float = 20.0) -> None:
    """Read until a member list of ``room`` that is exactly ``expected``."""
    deadline = time.monotonic() + seconds * TIME_UNIT
    seen: object = None
    while (left := deadline - time.monotonic()) > 0:
        message = receive_within(peer, left)
        if message is not None and message["type"] in ("members", "welcome"):
            seen = message["members"]
            if message["room"] == room and set(message["members"]) == expected:  # type: ignore[arg-type]
                return
    raise AssertionError(f"{peer.version}: last member list {seen}, expected {sorted(expected)}")


def spread_over_workers(cluster: Cluster, room: str, versions: list[str]) -> dict[str, Peer]:
    """One client on each of the 3 workers of ``cluster.many``, of the given versions.

    An idle worker wins every accept; each one that got its client is paused (SIGSTOP), once
    subscribed, until the next worker has taken one, then all continue.
    """
    peers: dict[str, Peer] = {}
    paused: list[int] = []
    try:
        for version in versions[:3]:
            peer, nick = guest(cluster.many, version, room)
            peers[nick] = peer
            pid = worker_pid(nick)
            assert pid not in paused, f"a paused worker {pid} accepted"
            await_log(cluster.logs[0], f"[{pid}] [INFO] hub: connected to Redis")
            os.kill(pid, signal.SIGSTOP)
            paused.append(pid)
    finally:
        for pid in paused:
            os.kill(pid, signal.SIGCONT)
    return peers


def await_log(path: Path, text: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds * TIME_UNIT
    while text not in path.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"no {text!r} in {path}"
        time.sleep(0.1)


def everyone_hears_everyone(peers: dict[str, Peer]) -> None:
    for nick, speaker in peers.items():
        speaker.send(type="say", text=f"hi from {nick} ✓")
        for listener in peers.values():
            listener.expect("message", nick=nick, text=f"hi from {nick} ✓")


def hub_log_lines(cluster: Cluster, text: str) -> dict[int, int]:
    """How many log lines containing ``text`` each process wrote."""
    counts: dict[int, int] = {}
    for path in cluster.logs:
        for line in path.read_text(errors="replace").splitlines():
            # gunicorn's error-log format (its workers' lines), or wsbackend serve's own
            match = re.match(r"(?:\[[^]]+\] \[(\d+)\]|\S+ \S+ (\d+)) ", line)
            if match and text in line:
                pid = int(match.group(1) or match.group(2))
                counts[pid] = counts.get(pid, 0) + 1
    return counts


def test_room_and_member_list_span_workers_and_hosts(cluster: Cluster) -> None:
    """hixie-76, hixie-75, hybi-08 and RFC 6455 clients on three workers of one server and on a
    second server share a room: every message reaches all, and every member list is whole."""
    room = "spread"
    peers = spread_over_workers(cluster, room, ["hixie-76", "rfc6455", "hybi-08"])
    for version in ("rfc6455", "hixie-75"):
        peer, nick = guest(cluster.single, version, room)
        peers[nick] = peer
    hosts = {worker_pid(nick) for nick in peers}
    assert len(hosts) == 4, hosts
    for peer in peers.values():
        await_members(peer, room, set(peers))
    everyone_hears_everyone(peers)


def test_killed_worker_vanishes_from_member_lists(cluster: Cluster) -> None:
    """kill -9 of a worker: its members leave every list within 30 s, without any goodbye,
    and the clients of the other workers and host keep talking."""
    room = "kill"
    peers = spread_over_workers(cluster, room, ["rfc6455", "hixie-76", "hybi-08"])
    remote, remote_nick = guest(cluster.single, "hixie-75", room)
    peers[remote_nick] = remote
    for peer in peers.values():
        await_members(peer, room, set(peers))
    victim = worker_pid(next(iter(peers)))
    survivors = {nick: peer for nick, peer in peers.items() if worker_pid(nick) != victim}
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    while True:
        observer = Peer(cluster.single, "rfc6455", f"/ws?room={room}&nick=observer")
        members = set(observer.expect("welcome")["members"]) - {"observer"}
        observer.raw.close()
        if members == set(survivors):
            break
        elapsed = time.monotonic() - killed_at
        assert elapsed < PRESENCE_DEADLINE * TIME_UNIT, f"after {elapsed:.0f} s: {members}"
        time.sleep(1)
    everyone_hears_everyone(survivors)


def test_redis_restart_loses_no_client_and_delivery_resumes(cluster: Cluster) -> None:
    """Redis stops: local delivery goes on and nobody is dropped. Redis starts again: messages
    cross processes within 15 s, member lists are whole again, and each process logged the
    loss and the reconnection once."""
    room = "outage"
    near, near_nick = guest(cluster.many, "rfc6455", room)
    far, far_nick = guest(cluster.single, "hixie-76", room)
    neighbour, neighbour_nick = guest(cluster.single, "rfc6455", room)
    everyone = {near_nick, far_nick, neighbour_nick}
    for peer in (near, far, neighbour):
        await_members(peer, room, everyone)

    cluster.redis.stop()
    far.send(type="say", text="while Redis is down")
    neighbour.expect("message", text="while Redis is down")
    far.expect("message", text="while Redis is down")

    cluster.redis.start()
    restarted_at = time.monotonic()
    for attempt in range(1000):
        near.send(type="say", text=f"probe {attempt}")
        near.expect("message", text=f"probe {attempt}")
        message = receive_within(far, 1.0)
        while message is not None and message.get("type") != "message":
            message = receive_within(far, 1.0)
        if message is not None:
            break
        elapsed = time.monotonic() - restarted_at
        assert elapsed < RESUME_DEADLINE * TIME_UNIT, f"nothing crossed for {elapsed:.0f} s"
    observer = Peer(cluster.many, "hybi-08", f"/ws?room={room}&nick=observer")
    await_members(observer, room, {*everyone, "observer"})

    lost = hub_log_lines(cluster, "hub: lost Redis")
    assert lost and set(lost.values()) == {1}, lost
    connected = hub_log_lines(cluster, "hub: connected to Redis")
    assert all(connected.get(pid) == 2 for pid in lost), connected


def test_redis_down_at_start(tmp_path: Path) -> None:
    """A server whose Redis is not there yet serves its own clients; once Redis starts, it
    connects and logs it."""
    redis_port, port = free_port(), free_port()
    log = tmp_path / "server.log"
    url = f"redis://127.0.0.1:{redis_port}/0"
    argv = wsbackend_serve(port, "--redis", url, "--metrics-path", "/metrics")
    with running(argv, port, log):
        first, first_nick = guest(port, "rfc6455", "early")
        second, second_nick = guest(port, "hixie-76", "early")
        await_members(first, "early", {first_nick, second_nick})
        second.send(type="say", text="no Redis yet")
        first.expect("message", text="no Redis yet")
        assert "unavailable at start" in log.read_text()
        assert hub_gauge(port) == 0.0
        with redis_server(tmp_path, redis_port):
            await_log(log, "hub: connected to Redis", RESUME_DEADLINE)
            assert hub_gauge(port) == 1.0


def hub_gauge(port: int) -> float:
    """``wsbackend_hub_connected`` as the metrics endpoint reports it."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    values = [line.split()[-1] for line in text.splitlines()
              if line.startswith("wsbackend_hub_connected")]  # fmt: skip
    assert len(values) == 1, text
    return float(values[0])


def test_several_workers_without_a_hub_warn_once(tmp_path: Path) -> None:
    """Broadcast and groups stop at each worker without a hub: said once, at start."""
    port = free_port()
    log = tmp_path / "server.log"
    env = {"WSBACKEND_REDIS_URL": ""}
    with running(wsbackend_serve(port, "--workers", "2"), port, log, env=env):
        deadline = time.monotonic() + 20 * TIME_UNIT
        while log.read_text().count("Booting worker") < 2 or "no hub" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    assert log.read_text().count("2 workers and no hub") == 1, log.read_text()


@pytest.mark.skipif(not proxies_available()["nginx"], reason="nginx is not installed")
def test_through_nginx_in_front_of_two_backends(tmp_path: Path) -> None:
    """nginx balances over two backends sharing Redis, one of them plain gunicorn with our
    worker told by ``WSBACKEND_REDIS_URL``; a room spans both."""
    first, second = free_port(), free_port()
    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(redis_server(tmp_path))
        argv = gunicorn(OUR_WORKER, "apps.site:application", first, "--workers", "2")
        env = {"WSBACKEND_REDIS_URL": redis.url}
        stack.enter_context(running(argv, first, tmp_path / "gunicorn.log", env=env))
        argv = wsbackend_serve(second, "--redis", redis.url)
        stack.enter_context(running(argv, second, tmp_path / "serve.log"))
        certificate = dummy_certificate(stack)
        proxy = stack.enter_context(nginx(first, *certificate, extra_backends=[second]))
        joined = [guest(proxy.http_port, version, "proxied")
                  for version in ("rfc6455", "hixie-76", "hybi-08", "rfc6455")]  # fmt: skip
        peers = {nick: peer for peer, nick in joined}
        assert len({worker_pid(nick) for nick in peers}) >= 2, list(peers)
        for peer in peers.values():
            await_members(peer, "proxied", set(peers))
        everyone_hears_everyone(peers)
    assert "no hub" not in (tmp_path / "gunicorn.log").read_text()


def dummy_certificate(stack: contextlib.ExitStack) -> tuple[Path, Path]:
    """nginx's site-tls.conf needs a certificate; any will do for plain-http tests."""
    folder = world_readable_dir("wsbackend-hub-")
    stack.callback(shutil.rmtree, folder, ignore_errors=True)
    cert, key = folder / "hub-cert.pem", folder / "hub-key.pem"
    issued = trustme.CA().issue_cert("127.0.0.1")
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    cert.chmod(0o644)
    key.chmod(0o644)
    return cert, key
