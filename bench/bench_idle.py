"""Memory per idle connection: the RSS a worker gains for each open connection that is silent.

Run: ``python bench/bench_idle.py [--connections 2000]``. Each server runs as one gunicorn worker
on loopback (the servers of bench_echo.py); this process opens ``--connections`` WebSocket
connections that then say nothing, and reads the worker's RSS from /proc before and after. A
first batch of connections, opened and closed, warms the worker up so that one-off costs
(imports, pools) are not counted.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench_echo import free_port, open_connection, peers, start, stop

WARM_UP_CONNECTIONS = 50
SETTLE_SECONDS = 2.0


def worker_rss(master_pid: int) -> int:
    """The RSS in bytes of the gunicorn master's only child, the worker."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    status = Path(f"/proc/{children[0]}/status").read_text()
    kilobytes = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))
    return int(kilobytes) * 1024


def measure(name: str, argv: list[str], port: int, connections: int) -> float:
    process = start(argv, port)
    try:
        for sock in [open_connection(port) for _ in range(WARM_UP_CONNECTIONS)]:
            sock.close()
        time.sleep(SETTLE_SECONDS)
        before = worker_rss(process.pid)
        socks = [open_connection(port) for _ in range(connections)]
        time.sleep(SETTLE_SECONDS)
        after = worker_rss(process.pid)
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
    for name, argv in peers(port).items():
        if name != "picows":  # not a gunicorn worker: no master whose child to find
            # gunicorn's default of 1,000 connections per worker would turn the rest away.
            limit = ["--worker-connections", str(args.connections + WARM_UP_CONNECTIONS + 100)]
            measure(name, [*argv[:3], *limit, *argv[3:]], port, args.connections)


if __name__ == "__main__":
    main()
