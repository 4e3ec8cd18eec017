"""Memory per idle connection: the RSS a worker gains for each open connection that is silent.

Run: ``python bench/bench_idle.py [--connections 2000]``. Each peer of ``suite.py`` but the raw
gevent ceiling runs on loopback, as one process or one gunicorn worker; this process opens
``--connections`` WebSocket connections that then say nothing, and reads the worker's RSS from
/proc before and after. A first batch of connections, opened and closed, warms the worker up so
that one-off costs (imports, pools) are not counted.
"""

from __future__ import annotations

import argparse
import socket
import time
from pathlib import Path

from load import request_head
from processes import free_port, stop
from suite import PEERS, serving_pid, start

WARM_UP_CONNECTIONS = 50
SETTLE_SECONDS = 2.0


def worker_rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    kilobytes = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))
    return int(kilobytes) * 1024


def open_connection(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(request_head(port, "/echo", "rfc6455"))
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("closed during the handshake")
        head += chunk
    return sock


def measure(name: str, port: int, connections: int) -> float:
    process = start(name, port, "echo")
    worker = serving_pid(process)
    try:
        for sock in [open_connection(port) for _ in range(WARM_UP_CONNECTIONS)]:
            sock.close()
        time.sleep(SETTLE_SECONDS)
        before = worker_rss(worker)
        socks = [open_connection(port) for _ in range(connections)]
        time.sleep(SETTLE_SECONDS)
        after = worker_rss(worker)
        for sock in socks:
            sock.close()
    finally:
        stop(process)
    per_connection = (after - before) / connections
    print(f"{name:>17} {per_connection / 1024:8.1f} KiB per idle connection "
          f"({before / 2**20:.1f} -> {after / 2**20:.1f} MiB)", flush=True)  # fmt: skip
    return per_connection


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=2000)
    args = parser.parse_args()
    port = free_port()
    for name in PEERS:
        if name != "raw gevent ceiling":  # canned replies, no WebSocket server
            measure(name, port, args.connections)


if __name__ == "__main__":
    main()
