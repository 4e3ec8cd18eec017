"""Standalone serving: gevent's WSGI server for one worker, gunicorn's arbiter for several.

``wsbackend serve`` uses this module. One worker runs in the current process on gevent's
``WSGIServer`` with our handler (TLS with a certificate and key, for wss://); several workers run
under gunicorn with :class:`~wsbackend.worker.WebSocketWorker`, which forks and supervises them.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from time import monotonic
from typing import Any

from .capacity import connection_limit, raise_file_limit, untrack_greenlet_tree
from .config import Config, ConfigError

__all__ = ["check_application", "listen", "load_application", "parse_bind", "serve"]

log = logging.getLogger("wsbackend.server")

WORKER_CLASS = "wsbackend.worker.WebSocketWorker"


def parse_bind(bind: str) -> tuple[str, int]:
    """``"127.0.0.1:8000"`` -> ``("127.0.0.1", 8000)``; ``"[::1]:80"`` -> ``("::1", 80)``."""
    host, colon, port = bind.rpartition(":")
    if not colon or not port.isdigit():
        raise ValueError(f"bind address {bind!r} is not HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


def load_application(spec: str) -> Any:
    """Import ``"package.module:name"`` (``name`` defaults to ``application``)."""
    module_name, _, attribute = spec.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute or "application")


def check_application(spec: str, in_process: bool) -> Any:
    """Load the application, or raise ConfigError saying why it cannot be.

    Workers that gunicorn forks must import it themselves (after gevent patches them), so for
    them it is tried once in a throwaway process; None is returned then.
    """
    if in_process:
        try:
            return load_application(spec)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"cannot load APP {spec!r}: {exc}") from None
    probe = (
        "import sys; from gevent import monkey; monkey.patch_all(); sys.path.insert(0, '');"
        "from wsbackend.server import load_application; load_application(sys.argv[1])"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, spec], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        last_line = (result.stderr.strip().splitlines() or ["it exited with an error"])[-1]
        raise ConfigError(f"cannot load APP {spec!r}: {last_line}")
    return None


def listen(bind: str) -> socket.socket:
    """The listening socket, or ConfigError when the address cannot be bound (in use, etc.)."""
    host, port = parse_bind(bind)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {bind}: {exc.strerror or exc}") from None


def serve(application: str, config: Config) -> None:
    """Serve ``"module:name"`` until SIGTERM or SIGINT; ConfigError before listening if it
    cannot start."""
    config.check()
    if config.workers > 1:
        check_application(application, in_process=False)
        listen(config.bind).close()
        _serve_with_gunicorn(application, config)
    else:
        app = check_application(application, in_process=True)
        _serve_in_process(application, app, listen(config.bind), config)


def _serve_in_process(name: str, app: Any, listener: socket.socket, config: Config) -> None:
    from gevent import pywsgi
    from gevent.pool import Pool

    from .capacity import AcceptBackoff, accept_pool_size
    from .handler import WebSocketHandler

    class Server(AcceptBackoff, pywsgi.WSGIServer):  # type: ignore[misc]
        """gevent's WSGI server that backs off at EMFILE."""

    ssl_args = {}
    if config.certfile:
        ssl_args = {"certfile": config.certfile, "keyfile": config.keyfile}
    file_limit = raise_file_limit()
    untrack_greenlet_tree()
    limit = connection_limit(config.max_connections, file_limit)
    WebSocketHandler.max_connections = limit
    log.info("up to %d WebSocket connections (file limit %d)", limit, file_limit)
    server = Server(
        listener,
        app,
        spawn=Pool(accept_pool_size(limit, file_limit)),
        handler_class=WebSocketHandler,
        log=pywsgi.LoggingLogAdapter(logging.getLogger("wsbackend.access"), logging.INFO),
        error_log=pywsgi.LoggingLogAdapter(log, logging.ERROR),
        **ssl_args,
    )

    import gevent

    # gevent's own signal watchers, not signal.signal: a Python-level handler runs only when
    # the interpreter next gets control, which in an idle event loop can be the next timer
    # (seconds later), and then inside the hub, where the drain it starts may not get to write.
    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(
            signum, gevent.spawn, _drain_and_stop, server, signum, config.graceful_timeout
        )
    server.start()
    scheme = "https" if config.certfile else "http"
    log.info("serving %s on %s://%s", name, scheme, config.bind)
    server.serve_forever()


def _drain_and_stop(server: Any, signum: int, timeout: float) -> None:
    """Refuse new connections, close the open ones with 1001, wait for them, then stop."""
    from .connection import LIVE
    from .protocol import CloseCode

    if LIVE.draining:
        return
    log.info("signal %d: stopping, %s s for open connections", signum, timeout)
    server.stop_accepting()
    with contextlib.suppress(OSError, AttributeError):
        server.socket.close()
    deadline = monotonic() + timeout
    LIVE.drain(CloseCode.GOING_AWAY, timeout)
    # Plain HTTP requests still being answered get what is left of the timeout.
    server.stop(timeout=max(0.0, deadline - monotonic()))


def _serve_with_gunicorn(application: str, config: Config) -> None:
    from gunicorn.app.base import BaseApplication
    from gunicorn.arbiter import Arbiter

    class GracefulArbiter(Arbiter):  # type: ignore[misc]
        """Ctrl-C stops as SIGTERM does, with close frames and the graceful timeout (gunicorn's
        own arbiter stops its workers at once on SIGINT)."""

        def handle_int(self) -> None:
            self.handle_term()

    from .metrics import MULTIPROC_ENV

    metrics_dir = None
    if config.metrics_path and not os.environ.get(MULTIPROC_ENV):
        # Set before any worker imports prometheus-client: each one writes its values there.
        metrics_dir = tempfile.mkdtemp(prefix="wsbackend-metrics-")
        os.environ[MULTIPROC_ENV] = metrics_dir
    settings: dict[str, Any] = {
        "bind": config.bind,
        "workers": config.workers,
        "worker_class": WORKER_CLASS,
        "graceful_timeout": math.ceil(config.graceful_timeout),
        "control_socket_disable": True,
        "errorlog": "-",
        "loglevel": config.log_level,
    }
    if config.certfile:
        settings.update(certfile=config.certfile, keyfile=config.keyfile)
    # The same limit as one process would have: what the file limit allows unless set.
    settings["worker_connections"] = connection_limit(config.max_connections, raise_file_limit())

    class Embedded(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for name, value in settings.items():
                # Before gunicorn 25.1 there is no control socket, nor its setting.
                if name != "control_socket_disable" or name in self.cfg.settings:
                    self.cfg.set(name, value)

        def run(self) -> None:
            GracefulArbiter(self).run()

        def load(self) -> Any:
            return load_application(application)

    arbiter_pid = os.getpid()
    try:
        Embedded().run()
    finally:
        # Workers are forks of this process, and a worker that exits (a reload, a restart)
        # unwinds through here too: only the arbiter may remove what they all share.
        if metrics_dir is not None and os.getpid() == arbiter_pid:
            shutil.rmtree(metrics_dir, ignore_errors=True)
