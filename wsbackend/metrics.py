"""Prometheus metrics of a worker, opt-in: ``--metrics-path /metrics``.

What a worker carries: open connections by app and version, refused handshakes by status,
messages and bytes each way, closes by code and side, send-queue overflows, and whether its
hub is linked to Redis. Sessions are
counted when they end (the per-message path stays free of metrics). Under several gunicorn
workers the values go through ``prometheus-client``'s multiprocess mode (files in
``PROMETHEUS_MULTIPROC_DIR``), so whichever worker answers a scrape reports them all.

The endpoint answers only peers in ``--metrics-allow`` (loopback by default) that send no
forwarding header: a request relayed by Apache or nginx is refused even though the proxy
itself is on loopback.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

from .config import active
from .proxies import TrustedProxies

__all__ = ["MULTIPROC_ENV", "Recorder", "metrics_endpoint", "recorder", "worker_exited"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus-client's own variable: where each worker process writes its values."""

FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")
LIVE_GAUGE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db")
"""prometheus-client's file of a process's gauges that count only while it lives."""


class Recorder:
    """The metrics of this process, created in the process that records them (after fork)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge

        self.open = Gauge(
            "wsbackend_connections_open",
            "Open WebSocket connections.",
            ["app", "version"],
            multiprocess_mode="livesum",
        )
        self.refused = Counter(
            "wsbackend_handshakes_refused",
            "Opening handshakes refused, by HTTP status.",
            ["status"],
        )
        self.messages = Counter(
            "wsbackend_messages", "WebSocket messages of ended sessions.", ["direction"]
        )
        self.bytes = Counter(
            "wsbackend_bytes",
            "Bytes on the wire of ended sessions, framing included.",
            ["direction"],
        )
        self.closes = Counter(
            "wsbackend_closes",
            "Ended sessions by close code and the side that closed.",
            ["code", "by"],
        )
        self.hub_connected = Gauge(
            "wsbackend_hub_connected",
            "1 while this worker's hub is linked to Redis, 0 while it delivers locally only.",
            multiprocess_mode="liveall",
        )
        self.overflows = Counter(
            "wsbackend_send_queue_overflows",
            "Clients closed with 1008 because their send queue overflowed max_send_buffer.",
        )


@functools.cache
def recorder() -> Recorder | None:
    """This process's metrics, or None when they are off."""
    return Recorder() if active().metrics_path else None


def metrics_endpoint(
    environ: dict[str, Any], start_response: Callable[..., Any]
) -> Iterable[bytes]:
    """The WSGI response to a scrape: the metrics for allowed peers, 403 for others."""
    peer = str(environ.get("REMOTE_ADDR", ""))
    relayed = any(name in environ for name in FORWARDING_HEADERS)
    if relayed or not _allowed().trusts(peer):
        body = b"metrics are served to --metrics-allow addresses only, never through a proxy\n"
        start_response("403 Forbidden", [("Content-Type", "text/plain"), _length(body)])
        return [body]
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    recorder()
    registry = REGISTRY
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client.multiprocess import MultiProcessCollector

        _forget_dead_processes(os.environ[MULTIPROC_ENV])
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    body = generate_latest(registry)
    start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), _length(body)])
    return [body]


def worker_exited(pid: int) -> None:
    """Drop an exiting worker's live gauges at once (multiprocess mode keeps its counters);
    those of a worker that could not say so are dropped at the next scrape."""
    if active().metrics_path and os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def _forget_dead_processes(folder: str) -> None:
    """Drop the live gauges (open connections, hub link) of processes that are gone; their
    counters stay, as multiprocess mode means them to. Done at each scrape by whichever worker
    answers, because nothing else can be relied on: a worker killed with SIGKILL cleans up
    nothing, and a plain gunicorn command has no ``child_exit`` hook of ours."""
    from prometheus_client import multiprocess

    for name in os.listdir(folder):
        match = LIVE_GAUGE_FILE.fullmatch(name)
        if match is not None and not _alive(int(match[1])):
            # Another worker answering a scrape may remove it first.
            with contextlib.suppress(FileNotFoundError):
                multiprocess.mark_process_dead(int(match[1]), folder)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@functools.cache
def _allowed() -> TrustedProxies:
    return TrustedProxies(active().metrics_allow)


def _length(body: bytes) -> tuple[str, str]:
    return ("Content-Length", str(len(body)))
