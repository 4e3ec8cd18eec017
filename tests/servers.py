"""Real servers for the tests: started as processes on loopback, stopped by their PID."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIME_UNIT = float(os.environ.get("WSBACKEND_TEST_TIME_UNIT", "1"))
"""Scales every wait in the tests, for slow machines."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout * TIME_UNIT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port}")


@contextlib.contextmanager
def running(
    argv: Sequence[str], port: int, log_path: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` until the block ends; its output goes to ``log_path``."""
    full_env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'tests' / 'e2e'}", **(env or {})}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            list(argv), cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_for_port(port, process)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15 * TIME_UNIT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def gunicorn(worker: str, app: str, port: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn", "-k", worker, "--no-control-socket",
        "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "2", *extra, app,
    ]  # fmt: skip


def wsbackend_serve(port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "wsbackend", "serve", "--bind", f"127.0.0.1:{port}", *extra]


def run_probe(script: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``tests/<script>`` in a fresh interpreter (a probe that counts live objects must not
    see this process's), within ``timeout`` seconds; it must exit 0."""
    return subprocess.run(
        [sys.executable, str(ROOT / "tests" / script)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=timeout * TIME_UNIT,
        check=True,
    )


OUR_WORKER = "wsbackend.worker.WebSocketWorker"
GEVENT_WEBSOCKET_WORKER = "geventwebsocket.gunicorn.workers.GeventWebSocketWorker"


def scrape(port: int, headers: dict[str, str] | None = None) -> dict[str, float]:
    """The samples a server's Prometheus endpoint (``/metrics``) serves, by name and labels."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers=headers or {})
    with urllib.request.urlopen(request, timeout=10 * TIME_UNIT) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples
