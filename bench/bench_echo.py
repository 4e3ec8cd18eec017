"""Echo throughput per worker, small messages: wsbackend against gevent-websocket and picows.

Run: ``python bench/bench_echo.py [--rounds 5] [--seconds 4]``. Each server runs as one worker
process on loopback; this process is the load client. It keeps ``--window`` small text messages
in flight on each of ``--connections`` connections, sending them as one pre-masked batch and
counting the echoed bytes, so the client costs far less than any server. Rounds interleave the
servers so that noise on this shared machine hits them alike; the report gives the median
messages/s of each and the ratios to gevent-websocket. Every load loop is bounded in count and
in time.
"""

from __future__ import annotations

import argparse
import base64
import os
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAYLOAD = b"x" * 32
MAX_MESSAGES_PER_RUN = 20_000_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def peers(port: int) -> dict[str, list[str]]:
    gunicorn = [sys.executable, "-m", "gunicorn", "--no-control-socket", "-w", "1",
                "--bind", f"127.0.0.1:{port}", "-k"]  # fmt: skip
    return {
        "wsbackend": [*gunicorn, "wsbackend.worker.WebSocketWorker", "apps.site:application"],
        "gevent-websocket": [
            *gunicorn,
            "geventwebsocket.gunicorn.workers.GeventWebSocketWorker",
            "legacy_app:application",
        ],
        "picows": [sys.executable, str(ROOT / "bench" / "peers" / "picows_echo.py"), str(port)],
    }


def start(argv: list[str], port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'tests' / 'e2e'}"}
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{argv} did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def masked_text_frame(payload: bytes) -> bytes:
    key = os.urandom(4)
    masked = bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))
    return bytes((0x81, 0x80 | len(payload))) + key + masked


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
        head += sock.recv(4096)
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(head.decode("latin-1"))
    sock.setblocking(False)
    return sock


def measure(port: int, connections: int, window: int, seconds: float) -> float:
    """Messages echoed per second over ``seconds``, ``window`` in flight per connection."""
    batch = masked_text_frame(PAYLOAD) * window
    echo_size = (2 + len(PAYLOAD)) * window
    selector = selectors.DefaultSelector()
    pending: dict[socket.socket, int] = {}
    for _ in range(connections):
        sock = open_connection(port)
        selector.register(sock, selectors.EVENT_READ)
        sock.sendall(batch)
        pending[sock] = echo_size
    echoed = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline and echoed < MAX_MESSAGES_PER_RUN:
        for key, _ in selector.select(timeout=1.0):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            received = len(sock.recv(1 << 20))
            if received == 0:
                raise RuntimeError("server closed a benchmark connection")
            pending[sock] -= received
            while pending[sock] <= 0:
                echoed += window
                pending[sock] += echo_size
                sock.setblocking(True)
                sock.sendall(batch)
                sock.setblocking(False)
    elapsed = time.perf_counter() - start
    for sock in pending:
        selector.unregister(sock)
        sock.close()
    return echoed / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--window", type=int, default=50)
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    for round_number in range(1, args.rounds + 1):
        port = free_port()
        for name, argv in peers(port).items():
            process = start(argv, port)
            try:
                rate = measure(port, args.connections, args.window, args.seconds)
            finally:
                stop(process)
            results.setdefault(name, []).append(rate)
            print(f"round {round_number}: {name:>17} {rate:>10,.0f} msg/s", flush=True)
    base = statistics.median(results["gevent-websocket"])
    print(f"\nmedian of {args.rounds} rounds, {args.connections} connections x {args.window} "
          f"messages of {len(PAYLOAD)} bytes in flight, one worker each:")  # fmt: skip
    for name, rates in results.items():
        median = statistics.median(rates)
        print(f"{name:>17} {median:>10,.0f} msg/s  {median / base:5.2f}x gevent-websocket")


if __name__ == "__main__":
    main()
