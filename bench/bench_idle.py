"""Where the memory of an idle connection goes, for wsbackend alone.

Run: ``python bench/bench_idle.py [--connections 2000] [--deflate] [--top 25]``. It starts one
gunicorn worker (``-k wsbackend.worker.WebSocketWorker``) serving this module's echo
application with ``tracemalloc`` on, opens ``--connections`` WebSocket connections that then
say nothing, and prints the worker's RSS per connection and, per connection, the allocation
sites that the idle connections keep (tracemalloc's snapshot diff), with the Python stack one
idle connection waits in. Untraced memory (RSS minus traced) is mostly each greenlet's Python
data stack (a 16 KiB chunk, one page of it touched), the allocator's overhead and, here only,
tracemalloc's own records. The figure to compare with other servers is the suite's, without
tracemalloc: ``python bench/suite.py --scenarios idle idle-deflate --no-readme``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tracemalloc
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import greenlet
import processes
import suite
from load import open_many, rss_kb

BENCH = Path(__file__).resolve().parent
TRACE_FRAMES = 8
WARM_UP_CONNECTIONS = 20
SETTLE_SECONDS = 1.0

_baseline: tracemalloc.Snapshot | None = None


def _snapshot_site(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """``/baseline`` takes the snapshot to compare with; ``/report?count=N&top=K`` answers the
    diff per connection."""
    global _baseline
    gc.collect()
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if environ.get("PATH_INFO") == "/baseline":
        _baseline = tracemalloc.take_snapshot()
        text = "ok"
    else:
        text = _report(int(query["count"][0]), int(query["top"][0]))
    body = text.encode()
    start_response("200 OK", [("Content-Length", str(len(body))), ("Connection", "close")])
    return [body]


def _report(count: int, top: int) -> str:
    assert _baseline is not None
    stats = tracemalloc.take_snapshot().compare_to(_baseline, "traceback")
    total = sum(stat.size_diff for stat in stats)
    lines = [f"traced: {total / count:,.0f} B per connection", ""]
    for stat in stats[:top]:
        frames = [f"{Path(f.filename).name}:{f.lineno}" for f in stat.traceback]
        ours = [f for f in stat.traceback if "/wsbackend/" in f.filename]
        where = frames[-1] if not ours or ours[-1] == stat.traceback[-1] else (
            f"{frames[-1]} (from {Path(ours[-1].filename).name}:{ours[-1].lineno})"
        )  # fmt: skip
        lines.append(
            f"{stat.size_diff / count:8.0f} B {stat.count_diff / count:5.1f} blocks  {where}"
        )
    lines += ["", "an idle connection's greenlet waits in:", *_idle_stack()]
    return "\n".join(lines)


def _idle_stack() -> list[str]:
    for candidate in gc.get_objects():
        if isinstance(candidate, greenlet.greenlet) and candidate.gr_frame is not None:
            frame, stack = candidate.gr_frame, []
            while frame is not None:
                code = frame.f_code
                stack.append(f"  {Path(code.co_filename).name}:{frame.f_lineno} {code.co_name}")
                frame = frame.f_back
            if any("receive" in line for line in stack):
                return stack
    return ["  (none found)"]


def _application() -> Any:
    """The suite's wsbackend echo, with the snapshot pages as its site (imported here: the
    peers' directory is on the worker's path only)."""
    from wsbackend_app import Echo

    from wsbackend import AppRegistry, WebSocketMiddleware

    return WebSocketMiddleware(_snapshot_site, AppRegistry(default=Echo()))


if os.environ.get("BENCH_IDLE_WORKER"):
    tracemalloc.start(TRACE_FRAMES)
    application = _application()


async def _get(port: int, target: str) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    response = await asyncio.wait_for(reader.read(), 120)
    writer.close()
    return response.split(b"\r\n\r\n", 1)[1].decode()


async def _measure(port: int, worker: int, args: argparse.Namespace) -> None:
    spec = {"port": port}
    warm = await open_many(spec, WARM_UP_CONNECTIONS, args.deflate)
    await asyncio.sleep(SETTLE_SECONDS)
    await _get(port, "/baseline")
    before = rss_kb(worker)
    clients = await open_many(spec, args.connections, args.deflate)
    await asyncio.sleep(SETTLE_SECONDS)
    after = rss_kb(worker)
    report = await _get(port, f"/report?count={args.connections}&top={args.top}")
    for client in [*warm, *clients]:
        assert client.transport is not None
        client.transport.close()
    offer = "with" if args.deflate else "without"
    print(f"{args.connections} idle connections {offer} a deflate offer")
    print(f"RSS: {(after - before) * 1024 / args.connections:,.0f} B per connection")
    print(report)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--deflate", action="store_true", help="offer permessage-deflate")
    parser.add_argument("--top", type=int, default=25, help="allocation sites shown")
    args = parser.parse_args()
    port = processes.free_port()
    argv = suite.gunicorn("wsbackend.worker.WebSocketWorker", "bench_idle:application")
    argv = [part.replace("{port}", str(port)) for part in argv]
    os.environ["BENCH_IDLE_WORKER"] = "1"  # the worker's app turns tracemalloc on
    process = processes.start(
        argv, port, cwd=BENCH, path=[BENCH, suite.PEERS_DIR], ready=suite.upgrades
    )
    try:
        asyncio.run(_measure(port, suite.serving_pid(process), args))
    finally:
        processes.stop(process)


if __name__ == "__main__":
    main()
