"""Broadcast fan-out across worker processes: deliveries/s to 1,000 clients, in-process vs Redis.

Run: ``python bench/bench_fanout.py [--clients 1000] [--messages 200] [--rounds 5]``. It starts
a ``redis-server`` on a free loopback port and, for each setup, its worker processes serving the
broadcast app of this module (every message a client sends goes to every client of the app):

- in-process: one ``wsbackend serve`` with the default hub, no Redis;
- 1, 2 and 4 workers: that many ``wsbackend serve --redis URL`` processes, one worker each,
  the clients dealt round-robin among them (gunicorn's workers share one listening socket and
  an idle worker wins most accepts of a burst, so ``--workers N`` would not spread them evenly).

This process is the load client: one sender (client 0) sends a batch of small text messages and
every client counts the bytes it receives (never parsing them) until all have them all.
Deliveries/s = clients x messages / time from the first send to the last byte. Every wait is
bounded in time.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import resource
import selectors
import socket
import statistics
import sys
import time
from pathlib import Path

from processes import free_port, running

from wsbackend import Application, AppRegistry, Client, WebSocketMiddleware

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PAYLOAD = b"f" * 32
FRAME_SIZE = 2 + len(PAYLOAD)
DEADLINE = 120.0


class Fanout(Application):
    """Every message goes to every client of the app, in every process the hub spans."""

    def on_message(self, client: Client, message: str | bytes) -> None:
        self.broadcast(message)


application = WebSocketMiddleware(None, AppRegistry(default=Fanout()))


def open_connection(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        "\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(head.decode("latin-1"))
    sock.setblocking(False)
    return sock


def masked_text_frame(payload: bytes) -> bytes:
    key = os.urandom(4)
    masked = bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))
    return bytes((0x81, 0x80 | len(payload))) + key + masked


def fan_out(sockets: list[socket.socket], messages: int) -> float:
    """Client 0 sends ``messages``; seconds until every client has received them all."""
    selector = selectors.DefaultSelector()
    pending = {sock: FRAME_SIZE * messages for sock in sockets}
    for sock in sockets:
        selector.register(sock, selectors.EVENT_READ)
    batch = masked_text_frame(PAYLOAD) * messages
    start = time.perf_counter()
    sockets[0].setblocking(True)
    sockets[0].sendall(batch)
    sockets[0].setblocking(False)
    waiting = len(sockets)
    try:
        while waiting:
            events = selector.select(timeout=1.0)
            if time.perf_counter() - start > DEADLINE:
                raise RuntimeError(f"{waiting} clients still waiting after {DEADLINE} s")
            for key, _ in events:
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                received = len(sock.recv(1 << 20))
                if received == 0:
                    raise RuntimeError("the server closed a benchmark connection")
                pending[sock] -= received
                if pending[sock] <= 0:
                    selector.unregister(sock)
                    waiting -= 1
        return time.perf_counter() - start
    finally:
        selector.close()


def measure(ports: list[int], clients: int, messages: int, rounds: int) -> list[float]:
    """Deliveries/s of each round, clients dealt round-robin over ``ports``."""
    sockets = [open_connection(ports[index % len(ports)]) for index in range(clients)]
    try:
        fan_out(sockets, 5)  # every worker subscribed and warm
        return [clients * messages / fan_out(sockets, messages) for _ in range(rounds)]
    finally:
        for sock in sockets:
            sock.close()


def serve(port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "wsbackend", "serve", "--bind", f"127.0.0.1:{port}",
            "--log-level", "warning", *extra, "bench_fanout:application"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    redis_port = free_port()
    redis = ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"]  # fmt: skip
    hub = ("--redis", f"redis://127.0.0.1:{redis_port}/0")
    setups = {"in-process": (1, ()), "1 worker": (1, hub), "2 workers": (2, hub),
              "4 workers": (4, hub)}  # fmt: skip
    results: dict[str, list[float]] = {}
    with running(redis, redis_port, cwd=HERE):
        for name, (workers, extra) in setups.items():
            ports = [free_port() for _ in range(workers)]
            with contextlib.ExitStack() as stack:
                for port in ports:
                    stack.enter_context(
                        running(serve(port, *extra), port, cwd=HERE, path=[ROOT, HERE])
                    )
                results[name] = measure(ports, args.clients, args.messages, args.rounds)
            rates = ", ".join(f"{rate:,.0f}" for rate in results[name])
            print(f"{name:>10}: {rates} deliveries/s", flush=True)
    load = os.getloadavg()[0]
    print(f"\nmedian of {args.rounds} rounds, {args.clients} clients, {args.messages} messages "
          f"of {len(PAYLOAD)} bytes per round, load average {load:.1f} on {os.cpu_count()} "
          "cores:")  # fmt: skip
    base = statistics.median(results["in-process"])
    for name, rates in results.items():
        median = statistics.median(rates)
        print(f"{name:>10} {median:>12,.0f} deliveries/s  {median / base:5.2f}x in-process")


if __name__ == "__main__":
    main()
