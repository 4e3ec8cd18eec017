"""gevent's pywsgi handler, extended so that a WSGI application can take the socket over.

It puts itself in the environ (see :mod:`wsbackend.hosts`), answers Flash policy requests when
configured, and writes no HTTP response for a connection that became a WebSocket.

The request head is read here rather than by gevent, so that it is bounded before it is held:
at most ``limits.max_request_head_size`` bytes and ``limits.max_request_headers`` fields (431
past either), within one deadline of ``handshake_timeout`` seconds for the whole head however
slowly it trickles in (slow-loris protection), and parsed strictly (RFC 9112: no whitespace
before a colon, no obs-fold, no control characters; 400 otherwise), and framed unambiguously
(one Host, one Content-Length, ``chunked`` last: see
:func:`~wsbackend.protocol.request.check_message_framing`). A refusal is one log line.

A plain WSGI application that is not a :class:`~wsbackend.wsgi.WebSocketMiddleware` is wrapped
in one, so code written for gevent-websocket's ``environ["wsgi.websocket"]`` runs unchanged, for
every protocol version.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any, NamedTuple

import gevent
from gevent import pywsgi

from .config import Config, active
from .connection import LIVE
from .flashpolicy import POLICY_REQUEST, policy_response
from .hosts import HANDLER_KEY, take_buffered
from .protocol import HandshakeError, HandshakeRequest, Limits
from .protocol.headers import CONTENT_LENGTH, TRANSFER_ENCODING
from .protocol.limits import DEFAULT_LIMITS
from .protocol.request import check_message_framing
from .requestenviron import ReadFields, add_request_keys, environ_key
from .requesthead import RequestHead, read_request_head, whole_head_end
from .sessions import handshake_refused
from .wsgi import WebSocketMiddleware

__all__ = ["WebSocketHandler"]

log = logging.getLogger("wsbackend.handler")

_CLOSED_FILE: Any = io.BytesIO()
_CLOSED_FILE.close()
"""The request's file once the socket became a WebSocket's (what ``wsgi.input`` then is)."""


class _Serving(NamedTuple):
    """What each connection's handler takes from the active configuration: worked out once per
    configuration (the policy document is a file) and found by identity (a frozen ``Config``
    hashes every field, nested ones too, on each lookup)."""

    config: Config
    handshake_timeout: float
    limits: Limits
    flash_policy: bytes | None


_serving: _Serving | None = None


def _serving_config() -> _Serving:
    global _serving
    config = active()
    if _serving is None or _serving.config is not config:
        timeout, policy = config.settings.handshake_timeout, config.flash_policy_document()
        _serving = _Serving(config, timeout, config.limits, policy)
    return _serving


class WebSocketHandler(pywsgi.WSGIHandler):  # type: ignore[misc]
    """A pywsgi handler for WebSocket upgrades of every protocol version."""

    limits: Limits = DEFAULT_LIMITS
    max_connections: int | None = None
    """WebSockets this process serves at once; upgrades past it are answered 503 (see
    :mod:`wsbackend.capacity`). The server sets it at start."""
    _detached = False
    _refused = False
    _head: HandshakeRequest
    _read_ahead = True
    """Whether gevent's buffer may hold bytes past the request head (:class:`RequestHead`), or
    may have come to since (see :meth:`run_application`)."""
    _state_from_head = False
    """Whether :meth:`read_request` took this request's state from our parse (then the environ
    is built from it too)."""
    rfile: Any
    """gevent's buffered reader over the socket; a closed stand-in once it is a WebSocket's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _, self.handshake_timeout, self.limits, self.flash_policy = _serving_config()

    def handle(self) -> None:
        if self.flash_policy is not None and self._answered_flash_policy(self.flash_policy):
            self.socket.close()
            return
        super().handle()

    def _answered_flash_policy(self, policy: bytes) -> bool:
        self.socket.settimeout(self.handshake_timeout)
        try:
            if self.rfile.peek(1)[:1] != POLICY_REQUEST[:1]:
                return False
            if self.rfile.read(len(POLICY_REQUEST)) == POLICY_REQUEST:
                self.socket.sendall(policy_response(policy))
        except OSError:
            pass
        return True

    def handle_one_request(self) -> Any:
        if self.rfile.closed:
            return None
        try:
            read = self._read_head_present() or self._read_head_within_deadline()
            if read is not None:
                check_message_framing(read.request)
        except HandshakeError as exc:
            log.info("%s: refused the request head: %s: %s", self._peer(), exc.status_line, exc)
            self._refused = True
            return (str(exc.http_status), _refusal(exc))
        if read is None:
            return None
        self._head, self._read_ahead = read
        del read  # this frame lasts as long as a WebSocket: it keeps nothing it no longer needs
        return super().handle_one_request()

    def _read_head_present(self) -> RequestHead | None:
        """The request head if the whole of it is here already (the usual case: the client
        sent it with its connection), read without arming the deadline; else None."""
        sock = self.socket
        sock.settimeout(0.0)
        try:
            held = self.rfile.peek(1)
        except OSError:
            return None
        finally:
            sock.settimeout(None)
        if whole_head_end(held, self.limits.max_request_head_size) < 0:
            return None
        return read_request_head(self.rfile, self.limits)

    def _read_head_within_deadline(self) -> RequestHead | None:
        """The request head, read within ``handshake_timeout`` however slowly it comes; None
        at EOF, on a socket error, or at the deadline."""
        deadline = gevent.Timeout(self.handshake_timeout)
        deadline.start()
        started = False
        try:
            started = bool(self.rfile.peek(1))
            return read_request_head(self.rfile, self.limits) if started else None
        except gevent.Timeout as exc:
            if exc is not deadline:
                raise
            # An idle keep-alive or preconnected socket is normal; a head cut off is not.
            log.log(
                logging.INFO if started else logging.DEBUG,
                "%s: no whole request head within %s s",
                self._peer(),
                self.handshake_timeout,
            )
            return None
        except OSError:
            return None
        finally:
            deadline.close()
            del deadline  # once raised, it holds this frame in its traceback: a cycle

    @property
    def request_head(self) -> HandshakeRequest:
        """The request head, read and checked (see :func:`wsbackend.hosts.wire_request`)."""
        return self._head

    def read_requestline(self) -> str:
        head = self._head
        return f"{head.method} {head.target} {head.http_version}"

    def read_request(self, raw_requestline: str) -> bool:
        """gevent's request state, taken from the head already parsed when it is an HTTP/1.1
        request without a body (every upgrade, most page requests): what gevent's parse of
        the line and fields would give. Requests with a body get gevent's own, and so do
        targets with non-ASCII bytes (gevent splits the line on \x85 and \xa0 too)."""
        head = self._head
        if (
            head.http_version != "HTTP/1.1"
            or not head.target.isascii()
            or CONTENT_LENGTH in head.headers
            or TRANSFER_ENCODING in head.headers
        ):
            self._state_from_head = False
            return bool(super().read_request(raw_requestline))
        self.requestline = raw_requestline
        self.command, self.path, self.request_version = head.method, head.target, "HTTP/1.1"
        self.headers = fields = self.MessageClass()
        self.content_length = None
        self.close_connection = (fields.get("Connection") or "").lower() == "close"
        self._state_from_head = True
        return True

    def MessageClass(self, *args: Any) -> ReadFields:
        """The fields of the head already read, as gevent's handler reads them."""
        return ReadFields(self._head.headers)

    def _headers(self) -> Iterator[tuple[str, str]]:
        """The ``HTTP_*`` environ entries for gevent's own ``get_environ``, straight from the
        fields already parsed (gevent formats them as lines and parses those again)."""
        for name, value in self.headers.fields:
            key = environ_key(name)
            if key:
                yield key, value

    def _check_http_version(self) -> bool:
        # gevent's check parses the version's digits on every request; these two pass it.
        return self.request_version in _USUAL_VERSIONS or bool(super()._check_http_version())

    def _peer(self) -> str:
        address = self.client_address
        return f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)

    def get_environ(self) -> dict[str, Any]:
        environ = self.environ_from_head() if self._state_from_head else super().get_environ()
        environ[HANDLER_KEY] = self
        environ.setdefault("RAW_URI", self.path)
        return environ

    def environ_from_head(self) -> dict[str, Any]:
        """gevent's environ for a request whose state :meth:`read_request` took from our
        parse, built from that parse rather than from fields formatted again (subclasses add
        their host's keys here)."""
        environ: dict[str, Any] = self.server.get_environ()
        add_request_keys(environ, self.command, self.path, self.headers, self.client_address)
        expects = environ.get("HTTP_EXPECT") == "100-continue"
        self.wsgi_input = pywsgi.Input(self.rfile, None, socket=self.socket if expects else None)
        # An upgrade's input is the reader itself: gevent's Input would refuse to read it.
        upgrade = self._connection_upgrade_requested()
        environ["wsgi.input"] = self.rfile if upgrade else self.wsgi_input
        environ["wsgi.input_terminated"] = not upgrade
        return environ

    def take_socket(self) -> tuple[Any, bytes]:
        """Give the socket and the bytes read past the request head to a WebSocket."""
        self._detached = True
        self.close_connection = True
        # Asking an empty buffer costs a recv that fails (EAGAIN): only when it may hold some.
        initial_data = take_buffered(self.rfile, self.socket) if self._read_ahead else b""
        self.rfile.close()
        # What only the request needed goes, or every idle WebSocket would keep it through
        # this handler and its environ: the parsed head, twice over (~1.5 KB), and the
        # closed file with its buffer objects (~0.5 KB), which one closed stand-in replaces.
        del self._head, self.headers
        self.rfile = self.wsgi_input.rfile = self.environ["wsgi.input"] = _CLOSED_FILE
        return self.socket, initial_data

    def run_application(self) -> None:
        application: Any = self.application  # type: ignore[has-type]
        if "HTTP_UPGRADE" in self.environ and self._refuses_upgrades():
            self.application = _unavailable
        elif "HTTP_UPGRADE" in self.environ:
            if not getattr(application, "handles_websocket_upgrades", False):
                # Once per server: its legacy sockets share one ``handler.server.clients``.
                application = self.server.application = WebSocketMiddleware(application)
            if isinstance(application, WebSocketMiddleware):
                # Its bound ``__call__``, not the instance: calling an instance re-enters
                # the interpreter from C, and gevent keeps that C stack on the heap for as
                # long as the connection waits (~700 B each).
                self.application = application.__call__
            if not isinstance(application, WebSocketMiddleware) or application.admit:
                # The site's code runs before ``take_socket`` and may read ``wsgi.input``
                # (gevent's buffer itself for an upgrade), buffering bytes past the head.
                self._read_ahead = True
        super().run_application()

    def _refuses_upgrades(self) -> bool:
        """True while draining for a stop, or at the connection limit (logged once each time
        it is reached)."""
        if LIVE.draining:
            return True
        global _at_limit
        limit = self.max_connections
        at_limit = limit is not None and len(LIVE) >= limit
        if at_limit != _at_limit:
            # Not a class attribute: writing one changes the class, and the interpreter then
            # drops what it learnt of every attribute access on its instances (~6% of the
            # CPU of a handshake, when it was written on each).
            _at_limit = at_limit
            if at_limit:
                log.warning("%d WebSockets open, the limit: answering 503 to more", limit)
        return at_limit

    def process_result(self) -> None:
        if self._detached:
            self.status = "101 Switching Protocols"
            return
        super().process_result()

    def handle_one_response(self) -> None:
        try:
            super().handle_one_response()
        finally:
            # The environ refers to this handler: break the cycle, so that the request's
            # memory goes back as soon as it is done rather than at the next collection.
            self.environ.pop(HANDLER_KEY, None)

    def log_request(self) -> None:
        if not self._detached and not self._refused:
            super().log_request()


_USUAL_VERSIONS = frozenset({"HTTP/1.1", "HTTP/1.0"})
_at_limit = False
"""Whether this process was at its connection limit at the last upgrade (logged once each
time it is reached)."""


def _refusal(error: HandshakeError) -> bytes:
    """The whole response refusing a request head; the connection closes after it."""
    body = f"{error.status_line}\n".encode()
    head = (
        f"HTTP/1.1 {error.status_line}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _unavailable(environ: dict[str, Any], start_response: Any) -> Any:
    """503 to an upgrade that this process cannot take now: the client retries later."""
    handshake_refused(503)
    body = b"Too many connections or shutting down; retry later.\n"
    start_response(
        "503 Service Unavailable",
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Retry-After", "1"),
            ("Connection", "close"),
        ],
    )
    return [body]
