"""Every benchmark scenario against every peer, interleaved, in one command.

Run: ``python bench/suite.py [--rounds 3] [--seconds 3] [--scenarios echo32 pingpong ...]
[--peers ...] [--scale 1.0] [--no-readme]``. Each measurement starts a fresh server process
pinned to core 0 (``taskset``) and the load client (``load.py``, picows on uvloop) pinned to
core 1, so the client never takes the server's core. Rounds interleave the peers, rotating their
order, so that noise on a shared machine hits them alike; the medians, their ratios to
gevent-websocket, the versions, the machine and the command go into ``bench/README.md``.
Every server is stopped by its PID when its measurement ends, even on error.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import processes
from load import request_head
from report import SERVER_CPU, Results, load_average, write_readme

BENCH = Path(__file__).resolve().parent
PEERS_DIR = BENCH / "peers"


def gunicorn(worker: str, app: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--no-control-socket",
        "--workers",
        "1",
        "--worker-connections",
        "20000",
        "--backlog",
        "4096",
        "--graceful-timeout",
        "5",
        "--log-level",
        "warning",
        "--bind",
        "127.0.0.1:{port}",
        "-k",
        worker,
        app,
    ]


PEERS: dict[str, list[str]] = {
    "wsbackend": gunicorn("wsbackend.worker.WebSocketWorker", "wsbackend_app:{app}"),
    "gevent-websocket": gunicorn(
        "geventwebsocket.gunicorn.workers.GeventWebSocketWorker", "geventwebsocket_app:application"
    ),
    "simple-websocket": gunicorn("gevent", "simple_websocket_app:application"),
    "uvicorn": [
        sys.executable,
        "-m",
        "uvicorn",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--ws",
        "websockets",
        "--lifespan",
        "off",
        "--log-level",
        "warning",
        "--backlog",
        "4096",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "uvicorn_app:app",
    ],
    "websockets": [sys.executable, str(PEERS_DIR / "websockets_server.py"), "{port}"],
    "picows": [sys.executable, str(PEERS_DIR / "picows_server.py"), "{port}"],
    "raw gevent ceiling": [sys.executable, str(PEERS_DIR / "gevent_canned.py"), "{port}"],
    "wsbackend HTTP floor": gunicorn(
        "wsbackend.worker.WebSocketWorker", "wsbackend_canned:application"
    ),
}
ONLY_IN: dict[str, set[str]] = {
    "raw gevent ceiling": {"echo32", "pingpong", "echo4k", "echo1m", "broadcast", "handshakes"},
    "wsbackend HTTP floor": {"handshakes"},
}
"""Bounds, not WebSocket servers, measured only where they bound something: the ceiling (what
gevent itself allows) and wsbackend's HTTP layer with canned WebSocket work (the least any
handshake behind it costs)."""


@dataclass(frozen=True)
class Scenario:
    """One row of the table: what the load client does, and in which unit it reports."""

    title: str
    unit: str
    spec: dict[str, object]
    variants: tuple[str, ...] = ("",)
    peers: tuple[str, ...] = ()
    lower_is_better: bool = False
    scaled: tuple[str, ...] = field(default=("connections",))
    figure: str = "rate"
    """Which of the load client's figures the row shows."""


SCENARIOS: dict[str, Scenario] = {
    "echo32": Scenario(
        "32 B echo, 100 conns x 16 in flight",
        "msg/s",
        {"kind": "echo", "size": 32, "connections": 100, "window": 16},
    ),
    "pingpong": Scenario(
        "32 B ping-pong, 200 conns x 1 in flight",
        "msg/s",
        {"kind": "echo", "size": 32, "connections": 200, "window": 1},
    ),
    "echo4k": Scenario(
        "4 KiB echo (binary), 50 conns x 8",
        "msg/s",
        {"kind": "echo", "size": 4096, "binary": True, "connections": 50, "window": 8},
    ),
    "echo1m": Scenario(
        "1 MiB echo (binary), 4 conns x 1",
        "MB/s",
        {"kind": "echo", "size": 1 << 20, "binary": True, "connections": 4, "window": 1},
        figure="mb_per_s",
    ),
    "broadcast": Scenario(
        "broadcast 32 B, 1 sender -> 1,000 clients, 8 in flight",
        "deliveries per server CPU s",
        {"kind": "broadcast", "size": 32, "connections": 1000, "window": 8},
        figure=SERVER_CPU,
    ),
    "handshakes": Scenario(
        "handshakes/s (open, upgrade, close frame), 20 at once",
        "handshakes/s",
        {"kind": "handshakes", "connections": 20},
    ),
    "idle": Scenario(
        "idle memory per connection (10k)",
        "KB",
        {"kind": "idle", "connections": 10_000},
        lower_is_better=True,
    ),
    "idle-deflate": Scenario(
        "idle, browser-style deflate offer (10k)",
        "KB",
        {"kind": "idle", "connections": 10_000, "deflate": True},
        lower_is_better=True,
    ),
    "hixie-echo32": Scenario(
        "32 B echo, 100 conns x 16 in flight",
        "msg/s",
        {"kind": "echo", "size": 32, "connections": 100, "window": 16},
        variants=("rfc6455", "hixie76"),
        peers=("wsbackend",),
    ),
    "hixie-pingpong": Scenario(
        "32 B ping-pong, 200 conns x 1",
        "msg/s",
        {"kind": "echo", "size": 32, "connections": 200, "window": 1},
        variants=("rfc6455", "hixie76"),
        peers=("wsbackend",),
    ),
    "hixie-handshakes": Scenario(
        "handshakes/s, 20 at once",
        "handshakes/s",
        {"kind": "handshakes", "connections": 20},
        variants=("rfc6455", "hixie76"),
        peers=("wsbackend",),
    ),
}


def pinned(core: int) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > core:
        return ["taskset", "-c", str(core)]
    return []


def upgrades(port: int) -> bool:
    """Whether the server answers a WebSocket handshake (gunicorn binds before its worker runs)."""
    try:
        with socket.create_connection(("127.0.0.1", port), 2) as sock:
            sock.sendall(request_head(port, "/echo", "rfc6455"))
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 16384:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                head += chunk
            return head.startswith(b"HTTP/1.1 101")
    except OSError:
        return False


def serving_pid(process: subprocess.Popen[bytes]) -> int:
    """The process that holds the connections: gunicorn's worker, else the server itself."""
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    found = children.read_text().split() if children.exists() else []
    return int(found[0]) if found else process.pid


def start(peer: str, port: int, app: str) -> subprocess.Popen[bytes]:
    argv = [
        *pinned(0),
        *(part.replace("{port}", str(port)).replace("{app}", app) for part in PEERS[peer]),
    ]
    return processes.start(argv, port, cwd=PEERS_DIR, path=[PEERS_DIR], ready=upgrades)


def run_client(spec: dict[str, object], timeout: float) -> dict[str, object]:
    argv = [*pinned(1), sys.executable, str(BENCH / "load.py"), json.dumps(spec)]
    done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode(errors="replace")[-2000:])
    result: dict[str, object] = json.loads(done.stdout)
    return result


def measure(name: str, peer: str, variant: str, args: argparse.Namespace) -> dict[str, object]:
    scenario = SCENARIOS[name]
    port = processes.free_port()
    process = start(peer, port, "broadcast" if scenario.spec["kind"] == "broadcast" else "echo")
    try:
        spec: dict[str, object] = {
            **scenario.spec,
            "port": port,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "server_pid": serving_pid(process),
        }
        for key in scenario.scaled:
            spec[key] = max(1, round(int(scenario.spec[key]) * args.scale))  # type: ignore[call-overload]
        if variant:
            spec["version"] = variant
        return run_client(spec, timeout=args.seconds + args.warmup + 300)
    finally:
        processes.stop(process)


def peers_of(name: str, chosen: list[str]) -> list[str]:
    scenario = SCENARIOS[name]
    allowed = scenario.peers or tuple(
        peer for peer in PEERS if peer not in ONLY_IN or name in ONLY_IN[peer]
    )
    return [peer for peer in chosen if peer in allowed]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--scenarios", nargs="+", choices=list(SCENARIOS), default=list(SCENARIOS))
    parser.add_argument("--peers", nargs="+", choices=list(PEERS), default=list(PEERS))
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply every connection count (e.g. 0.1 for a quick check)",
    )
    parser.add_argument(
        "--memory-rounds", type=int, default=1, help="rounds of the idle-memory scenarios"
    )
    parser.add_argument("--no-readme", action="store_true", help="print the table only")
    args = parser.parse_args()
    # SystemExit unwinds through measure()'s finally, which stops the server it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # servers inherit it
    args.load_before = load_average()
    results = Results()
    table = ""
    started = time.time()
    for round_number in range(args.rounds):
        for name in args.scenarios:
            if SCENARIOS[name].spec["kind"] == "idle" and round_number >= args.memory_rounds:
                continue
            runs = [
                (peer, variant)
                for peer in peers_of(name, args.peers)
                for variant in SCENARIOS[name].variants
            ]
            shift = round_number % len(runs) if runs else 0
            for peer, variant in runs[shift:] + runs[:shift]:
                try:
                    outcome = measure(name, peer, variant, args)
                except (RuntimeError, subprocess.TimeoutExpired, ValueError) as error:
                    outcome = {"error": str(error).strip().splitlines()[-1][:200]}
                results.add(name, peer, variant, outcome, SCENARIOS[name].figure)
                print(
                    f"round {round_number + 1} {name:>16} {peer:>18} {variant:>8} {outcome}",
                    flush=True,
                )
        # After every round, so that a run cut short still leaves its table.
        args.completed = round_number + 1
        minutes = (time.time() - started) / 60
        table = results.markdown(SCENARIOS, list(PEERS), args, minutes)
        if not args.no_readme:
            write_readme(BENCH / "README.md", table)
    print(table)


if __name__ == "__main__":
    main()
