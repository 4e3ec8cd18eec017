"""The WSGI application that performs the upgrade and hands every other request to the site.

One process and one domain serve both: ``WebSocketMiddleware(site_app, apps)`` answers upgrade
requests itself, for every protocol version, and passes everything else to the site's own WSGI
application. Without ``apps`` it works the way gevent-websocket does: the upgrade is performed and
the site's application is called with ``environ["wsgi.websocket"]`` set.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from .application import Application, AppRegistry, Client, run_session
from .config import active
from .connection import ConnectionSettings, WebSocket
from .hosts import (
    HANDLER_KEY,
    find_transport,
    prepare_gevent_websocket_handler,
    read_within,
    wire_request,
)
from .hubs import Hub, RedisHub, hub_for
from .legacy import LegacyServer
from .metrics import metrics_endpoint, recorder
from .protocol import (
    DeflateConfig,
    Endpoint,
    Forbidden,
    HandshakeError,
    HandshakePolicy,
    HandshakeRequest,
    Headers,
    Limits,
    OriginPolicy,
    UpgradeRequired,
    accept,
    is_upgrade_request,
)
from .protocol.handshake import AcceptedHandshake, OriginCheck
from .protocol.headers import CONTENT_LENGTH, HOST, SEC_WEBSOCKET_VERSION
from .protocol.request import check_head_limits
from .protocol.versions import SUPPORTED_HYBI_VERSIONS
from .proxies import ClientView, TrustedProxies
from .sessions import Session, handshake_refused

__all__ = ["WSGIApp", "WebSocketMiddleware", "request_from_environ"]

log = logging.getLogger("wsbackend.wsgi")

StartResponse = Callable[..., Any]
CLOSE = ("Connection", "close")
"""Ends the HTTP connection after a refusal, instead of reading what follows as a request.
Only for gevent's pywsgi (our handler, gevent-websocket's): PEP 3333 forbids an application
hop-by-hop headers, and a strict host (wsgiref, mod_wsgi) turns one into a 500."""
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Admission = Callable[[dict[str, Any]], bool]
ACCEPTED_KEY = "wsbackend.accepted"
"""Where ``refuse_early`` leaves the handshake it accepted, so that the upgrade that follows
neither checks it nor asks the admission hook a second time."""

NO_SOCKET_HANDOVER = (
    "This server cannot hand its socket over to a WebSocket (mod_wsgi and plain WSGI servers "
    "cannot). Run wsbackend under its gunicorn worker (gunicorn -k "
    "wsbackend.worker.WebSocketWorker) or `wsbackend serve`, and route upgrade requests to it: "
    "Apache `ProxyPass <path> http://<backend>/ upgrade=websocket`, nginx `proxy_pass` with "
    "`proxy_set_header Upgrade $http_upgrade` (see apache/ and nginx/)."
)


def request_from_environ(environ: Mapping[str, Any], host: str | None = None) -> HandshakeRequest:
    """The request as the protocol core sees it, rebuilt from a WSGI environ.

    ``host`` replaces the Host header: the one a trusted proxy says the client asked for.
    """
    fields = [
        (key[5:].replace("_", "-").title(), str(value))
        for key, value in environ.items()
        if key.startswith("HTTP_") and not (host and key == "HTTP_HOST")
    ]
    if host:
        fields.append(("Host", host))
    if environ.get("CONTENT_LENGTH"):
        fields.append((CONTENT_LENGTH, str(environ["CONTENT_LENGTH"])))
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not target:
        path = quote(str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", "")))
        query = environ.get("QUERY_STRING")
        target = f"{path}?{query}" if query else path
    return HandshakeRequest(
        str(environ.get("REQUEST_METHOD", "GET")),
        str(target),
        str(environ.get("SERVER_PROTOCOL", "HTTP/1.0")),
        Headers(fields),
    )


def _request(environ: Mapping[str, Any], host: str | None) -> HandshakeRequest:
    """The request as our handler parsed it when it is the host (and no proxy renamed the
    Host), else as :func:`request_from_environ` rebuilds it."""
    wire = wire_request(environ)
    if wire is not None and (not host or host == wire.headers.get(HOST)):
        return wire
    return request_from_environ(environ, host)


def peer_name(environ: Mapping[str, Any], client: str | None = None) -> str:
    """``"address:port"`` of the peer, for log lines; behind a trusted proxy, the ``client``
    it reports first (``"203.0.113.5 via 127.0.0.1:41234"``)."""
    peer = f"{environ.get('REMOTE_ADDR', '-')}:{environ.get('REMOTE_PORT', '-')}"
    if client is None or client == environ.get("REMOTE_ADDR"):
        return peer
    return f"{client} via {peer}"


def respond(
    start_response: StartResponse, status: str, text: str, headers: Sequence[tuple[str, str]] = ()
) -> list[bytes]:
    """A short plain-text response."""
    body = (text + "\n").encode("utf-8")
    start_response(
        status,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            *headers,
        ],
    )
    return [body]


class WebSocketMiddleware:
    """A WSGI application serving WebSocket upgrades beside the site's own pages.

    Args:
        site_app: The site's WSGI application, for every request that is not an upgrade (404
            without one). With no ``apps`` it also receives upgraded requests, gevent-websocket
            style, with ``environ["wsgi.websocket"]`` set.
        apps: Applications by subprotocol, as an :class:`AppRegistry` or a mapping.
        default_app: Serves clients that offer no subprotocol.
        settings: Timeouts and buffer bounds of each connection; by default those of the
            active :class:`~wsbackend.config.Config` (``wsbackend serve``'s options, else the
            ``WSBACKEND_*`` environment variables), as for ``limits``, ``allowed_origins`` and
            ``trusted_proxies``.
        limits: Frame, message and request size limits.
        deflate: permessage-deflate preferences; None never negotiates it.
        allowed_origins: Page origins accepted besides the site's own (``"*"`` for any). By
            default only pages of the host the socket is on may open one (403 otherwise),
            which defeats cross-site WebSocket hijacking.
        check_origin: Replaces the origin policy: given the request's origin (None when
            absent) and the request, whether to accept it.
        admit: Sees the environ (cookies, path, headers) before the handshake completes and
            returns False to refuse with 403, e.g. without a valid session cookie.
        trusted_proxies: Peers whose X-Forwarded-For / -Proto / -Host headers are believed
            (loopback unless configured).
        hub: Where broadcast, groups and presence reach: by default a :class:`RedisHub` for
            the configured Redis URL (``--redis``, ``WSBACKEND_REDIS_URL``), else this process
            only (:class:`LocalHub`).
    """

    handles_websocket_upgrades = True
    """Tells our pywsgi handler not to wrap this application again."""

    def __init__(
        self,
        site_app: WSGIApp | None = None,
        apps: AppRegistry | Mapping[str, Application] | None = None,
        *,
        default_app: Application | None = None,
        settings: ConnectionSettings | None = None,
        limits: Limits | None = None,
        deflate: DeflateConfig | None = DeflateConfig(),  # noqa: B008 - frozen, shared safely
        allowed_origins: Iterable[str] | None = None,
        check_origin: OriginCheck | None = None,
        admit: Admission | None = None,
        trusted_proxies: Iterable[str] | None = None,
        hub: Hub | None = None,
    ) -> None:
        if isinstance(apps, AppRegistry):
            self.registry: AppRegistry | None = apps
            if default_app is not None:
                apps.default = default_app
        elif apps is not None or default_app is not None:
            self.registry = AppRegistry(apps, default_app)
        else:
            self.registry = None
        config = active()
        self.hub = hub_for(config) if hub is None else hub
        metrics = recorder()
        if metrics is not None and isinstance(self.hub, RedisHub):
            self.hub.on_state = metrics.hub_connected.set
        if self.registry is not None:
            self.registry.bind(self.hub)
        self.site_app = site_app
        self.legacy_server = LegacyServer(site_app) if site_app is not None else None
        self.settings = config.settings if settings is None else settings
        self.limits = config.limits if limits is None else limits
        self.deflate = deflate
        self.admit = admit
        self.proxies = TrustedProxies(
            config.trusted_proxies if trusted_proxies is None else trusted_proxies
        )
        self.metrics_path = config.metrics_path
        origins = config.allowed_origins if allowed_origins is None else allowed_origins
        self.policy = HandshakePolicy(
            select_subprotocol=self.registry.select if self.registry is not None else None,
            check_origin=check_origin or OriginPolicy.allowing(origins),
            deflate=deflate,
        )
        prepare_gevent_websocket_handler()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if self.metrics_path is not None and environ.get("PATH_INFO") == self.metrics_path:
            return metrics_endpoint(environ, start_response)
        if "HTTP_UPGRADE" in environ:
            upgraded = self._upgrade(environ, start_response)
            if upgraded is not None:
                return upgraded
        if self.site_app is None:
            return respond(start_response, "404 Not Found", "Only WebSocket connections here.")
        return self.site_app(environ, start_response)

    def refuse_early(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> list[bytes] | None:
        """For hosts that answer the handshake before calling us (gevent-websocket's handler):
        the response refusing this request, or None for a request they may go on with.

        Such hosts speak only hybi-07/08 and RFC 6455, so hixie requests get 426.
        """
        if "HTTP_UPGRADE" not in environ:
            return None
        view = self.proxies.resolve(environ)
        request = _request(environ, view.host)
        if not is_upgrade_request(request):
            return None
        peer = peer_name(environ, view.remote_addr)
        try:
            accepted = self._accept(environ, request, view)
        except HandshakeError as exc:
            log.info("%s: refused %s: %s: %s", peer, request.target[:200], exc.status_line, exc)
            handshake_refused(exc.http_status)
            return respond(start_response, exc.status_line, str(exc), (*exc.headers, CLOSE))
        if not accepted.version.is_hixie:
            environ[ACCEPTED_KEY] = accepted
            return None
        log.warning(
            "%s: refused a %s client with 426: gevent-websocket's worker speaks only RFC 6455 "
            "and hybi-07/08; serve it with -k wsbackend.worker.WebSocketWorker",
            peer,
            accepted.version.value,
        )
        refusal = UpgradeRequired(
            f"{accepted.version.value} is not served on this server; use RFC 6455",
            ((SEC_WEBSOCKET_VERSION, ", ".join(SUPPORTED_HYBI_VERSIONS)),),
        )
        handshake_refused(refusal.http_status)
        return respond(start_response, refusal.status_line, str(refusal), (*refusal.headers, CLOSE))

    def _accept(
        self, environ: dict[str, Any], request: HandshakeRequest, view: ClientView
    ) -> AcceptedHandshake:
        if not read_within(environ, request, self.limits):
            check_head_limits(request, self.limits)
        accepted = accept(request, self._policy_for(environ), view.scheme == "https")
        if self.admit is not None and not self.admit(environ):
            raise Forbidden("refused by the admission hook")
        return accepted

    def _policy_for(self, environ: dict[str, Any]) -> HandshakePolicy:
        """gevent-websocket's subprotocol rule when the site application has ``app_protocol``
        (its ``Resource`` has): the name it gives for the path, if the client offered it."""
        if self.registry is not None:
            return self.policy
        app_protocol = getattr(self.site_app, "app_protocol", None)
        if app_protocol is None:
            return self.policy
        name = app_protocol(str(environ.get("PATH_INFO", "")))
        return replace(
            self.policy, select_subprotocol=lambda offers: name if name in offers else None
        )

    def _upgrade(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes] | None:
        """Serve an upgrade request until its connection ends; None if it is not one.

        This frame lasts as long as the connection: what only the handshake needs is dropped
        before the session starts, or every idle connection would keep it (~1.5 KB).
        """
        view = self.proxies.resolve(environ)
        request = _request(environ, view.host)
        if not is_upgrade_request(request):
            return None
        peer = peer_name(environ, view.remote_addr)
        host_upgraded = environ.get("wsgi.websocket") is not None
        if host_upgraded and self.registry is None and self.site_app is not None:
            return self.site_app(environ, start_response)
        try:
            accepted = environ.pop(ACCEPTED_KEY, None) or self._accept(environ, request, view)
        except HandshakeError as exc:
            log.info("%s: refused %s: %s: %s", peer, request.target[:200], exc.status_line, exc)
            handshake_refused(exc.http_status)
            if host_upgraded:
                return []
            closing = (CLOSE,) if HANDLER_KEY in environ else ()
            return respond(start_response, exc.status_line, str(exc), (*exc.headers, *closing))
        transport = find_transport(environ)
        if transport is None:
            log.error(
                "%s: upgrade request reached a host without a socket: %s",
                peer,
                environ.get("SERVER_SOFTWARE", "unknown server"),
            )
            return respond(start_response, "501 Not Implemented", NO_SOCKET_HANDOVER)
        websocket = self._open(
            transport.socket, transport.initial_data, transport.handshake_sent, accepted, peer
        )
        response = transport.response
        if websocket is None:
            return response
        app = None if self.registry is None else self.registry.app_for(accepted.subprotocol)
        app_name = "-" if app is None else type(app).__name__
        remote_addr = view.remote_addr
        # Only gevent-websocket style applications read the request's version header.
        version = (
            ""
            if app is not None
            else request.headers.get(SEC_WEBSOCKET_VERSION) or websocket.version.value
        )
        del request, view, accepted, transport
        session = Session.start(websocket, remote_addr, environ, app_name)
        try:
            if app is None:
                self._run_site_app(environ, websocket, version)
            else:
                run_session(app, Client(websocket, environ, remote_addr, app.directory))
        finally:
            websocket.release()
            session.end()
        return response

    def _open(
        self,
        sock: Any,
        initial_data: bytes,
        handshake_sent: bool,
        accepted: AcceptedHandshake,
        peer: str,
    ) -> WebSocket | None:
        if handshake_sent:
            endpoint = Endpoint(accepted.version, limits=self.limits)
        else:
            endpoint = Endpoint.for_handshake(accepted, self.limits, self.deflate)
            # What came with the request (hixie-76's key bytes, early frames) is answered in
            # the write of the head: one send, and a hixie-76 client sees one reply, not two.
            endpoint.receive_data(initial_data)
            initial_data = b""
            reply = accepted.response_head() + endpoint.data_to_send()
            try:
                # One send takes a reply this small; gevent's sendall would first ask the
                # socket for its buffer size (a system call) and arm a loop.
                sent = sock.send(reply)
                if sent < len(reply):
                    sock.sendall(reply[sent:])
            except OSError as exc:
                log.info("%s: vanished during the handshake: %s", peer, exc)
                sock.close()
                return None
        if log.isEnabledFor(logging.DEBUG):  # the version's name (a property) read only for it
            log.debug(
                "%s: open, %s, subprotocol %r", peer, accepted.version.value, accepted.subprotocol
            )
        return WebSocket(sock, endpoint, self.settings, initial_data, peer, accepted.subprotocol)

    def _run_site_app(self, environ: dict[str, Any], websocket: WebSocket, version: str) -> None:
        """gevent-websocket style: the site's application drives ``environ["wsgi.websocket"]``,
        and reads ``environ["wsgi.websocket_version"]`` (the request's version header)."""
        assert self.site_app is not None and self.legacy_server is not None
        with self.legacy_server.connected(websocket, environ) as legacy:
            environ["wsgi.websocket"] = legacy
            environ["wsgi.websocket_version"] = version
            result = self.site_app(environ, lambda status, headers, exc_info=None: None)
            try:
                for _ in result:
                    pass
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
