"""Standalone serving: gevent's WSGI server for one worker, gunicorn's arbiter for several.

``wsbackend serve`` uses this module. One worker runs in the current process on gevent's
``WSGIServer`` with our handler (TLS with a certificate and key, for wss://); several workers run
under gunicorn with :class:`~wsbackend.worker.WebSocketWorker`, which forks and supervises them.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import signal
from dataclasses import dataclass
from typing import Any

__all__ = ["ServerOptions", "load_application", "parse_bind", "serve"]

log = logging.getLogger("wsbackend.server")

WORKER_CLASS = "wsbackend.worker.WebSocketWorker"


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """What ``wsbackend serve`` was asked for.

    Attributes:
        application: ``"module:name"`` of the WSGI application to serve.
        bind: ``"HOST:PORT"``; IPv6 hosts in brackets, ``"[::1]:8000"``.
        workers: Worker processes; 1 serves from this process.
        certfile: PEM certificate chain for TLS (wss://), with ``keyfile``.
        keyfile: PEM private key for ``certfile``.
        graceful_timeout: Seconds open connections get to finish on SIGTERM / SIGINT: each
            client is sent a 1001 close frame at once, then the closing handshakes and the
            applications' ``on_close`` have this long before the process exits.
        max_connections: WebSockets one worker serves at once (503 past it); by default what
            the file limit allows (see :mod:`wsbackend.capacity`).
    """

    application: str
    bind: str = "127.0.0.1:8000"
    workers: int = 1
    certfile: str | None = None
    keyfile: str | None = None
    graceful_timeout: float = 10.0
    max_connections: int | None = None


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


def serve(options: ServerOptions) -> None:
    """Serve until SIGTERM or SIGINT."""
    if options.workers > 1:
        _serve_with_gunicorn(options)
    else:
        _serve_in_process(options)


def _serve_in_process(options: ServerOptions) -> None:
    from gevent import pywsgi
    from gevent.pool import Pool

    from .capacity import AcceptBackoff, accept_pool_size, connection_limit, raise_file_limit
    from .handler import WebSocketHandler

    class Server(AcceptBackoff, pywsgi.WSGIServer):  # type: ignore[misc]
        """gevent's WSGI server that backs off at EMFILE."""

    ssl_args = {}
    if options.certfile:
        ssl_args = {"certfile": options.certfile, "keyfile": options.keyfile}
    file_limit = raise_file_limit()
    limit = connection_limit(options.max_connections, file_limit)
    WebSocketHandler.max_connections = limit
    log.info("up to %d WebSocket connections (file limit %d)", limit, file_limit)
    server = Server(
        parse_bind(options.bind),
        load_application(options.application),
        spawn=Pool(accept_pool_size(limit, file_limit)),
        handler_class=WebSocketHandler,
        log=pywsgi.LoggingLogAdapter(logging.getLogger("wsbackend.access"), logging.INFO),
        error_log=pywsgi.LoggingLogAdapter(log, logging.ERROR),
        **ssl_args,
    )

    def stop(signum: int, frame: object) -> None:
        import gevent

        gevent.spawn(_drain_and_stop, server, signum, options.graceful_timeout)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.start()
    scheme = "https" if options.certfile else "http"
    log.info("serving %s on %s://%s", options.application, scheme, options.bind)
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
    LIVE.drain(CloseCode.GOING_AWAY, timeout)
    server.stop(timeout=0)


def _serve_with_gunicorn(options: ServerOptions) -> None:
    from gunicorn.app.base import BaseApplication

    settings: dict[str, Any] = {
        "bind": options.bind,
        "workers": options.workers,
        "worker_class": WORKER_CLASS,
        "graceful_timeout": round(options.graceful_timeout),
        "control_socket_disable": True,
        "errorlog": "-",
    }
    if options.certfile:
        settings.update(certfile=options.certfile, keyfile=options.keyfile)
    if options.max_connections is not None:
        settings["worker_connections"] = options.max_connections

    class Embedded(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for name, value in settings.items():
                self.cfg.set(name, value)

        def load(self) -> Any:
            return load_application(options.application)

    Embedded().run()
