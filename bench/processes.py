"""Server processes of the benchmarks: started on a free loopback port, stopped by their PID.

Every bench script measures servers it starts itself; this is the one place that knows how
long a server may take to come up and how it is stopped (SIGTERM, then SIGKILL after 15 s), so
that no script leaves a server running behind it, even on error.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

START_SECONDS = 30.0
STOP_SECONDS = 15.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def listening(port: int) -> bool:
    """Whether something accepts connections on the port."""
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
    except OSError:
        return False
    return True


def start(
    argv: Sequence[str],
    port: int,
    *,
    cwd: Path,
    path: Sequence[Path] = (),
    ready: Callable[[int], bool] = listening,
) -> subprocess.Popen[bytes]:
    """Run ``argv`` (its output discarded) until ``ready(port)``, with ``path`` ahead of
    PYTHONPATH; stopped again if it does not get there within ``START_SECONDS``."""
    pythonpath = os.pathsep.join([*map(str, path), os.environ.get("PYTHONPATH", "")])
    process = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": pythonpath},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        if ready(port):
            return process
        time.sleep(0.05)
    stop(process)
    raise RuntimeError(f"{' '.join(argv)} did not start on port {port}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, so that the server stops as it would in production; SIGKILL if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running(
    argv: Sequence[str],
    port: int,
    *,
    cwd: Path,
    path: Sequence[Path] = (),
    ready: Callable[[int], bool] = listening,
) -> Iterator[subprocess.Popen[bytes]]:
    """:func:`start` for the block, :func:`stop` after it."""
    process = start(argv, port, cwd=cwd, path=path, ready=ready)
    try:
        yield process
    finally:
        stop(process)
