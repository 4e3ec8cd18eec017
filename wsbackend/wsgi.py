"""The WSGI application that performs the upgrade and hands every other request to the site.

One process and one domain serve both: ``WebSocketMiddleware(site_app, apps)`` answers upgrade
requests itself, for every protocol version, and passes everything else to the site's own WSGI
application. Without ``apps`` it works the way gevent-websocket does: the upgrade is performed and
the site's application is called with ``environ["wsgi.websocket"]`` set.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from .application import Application, AppRegistry, Client, run_session
from .connection import DEFAULT_SETTINGS, ConnectionSettings, WebSocket
from .hosts import find_transport
from .hubs import Hub, hub_from_environment
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
    accept,
    is_upgrade_request,
)
from .protocol.handshake import AcceptedHandshake, OriginCheck
from .protocol.headers import SEC_WEBSOCKET_VERSION
from .protocol.limits import DEFAULT_LIMITS
from .proxies import ClientView, TrustedProxies

__all__ = ["WSGIApp", "WebSocketMiddleware", "request_from_environ"]

log = logging.getLogger("wsbackend.wsgi")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Admission = Callable[[dict[str, Any]], bool]

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


def peer_name(environ: Mapping[str, Any]) -> str:
    """``"address:port"`` of the peer, for log lines."""
    return f"{environ.get('REMOTE_ADDR', '-')}:{environ.get('REMOTE_PORT', '-')}"


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
        settings: Timeouts and buffer bounds of each connection.
        limits: Frame, message and request size limits.
        deflate: permessage-deflate preferences; None never negotiates it.
        allowed_origins: Page origins accepted besides the site's own (``"*"`` for any). By
            default only pages of the host the socket is on may open one (403 otherwise),
            which defeats cross-site WebSocket hijacking.
        check_origin: Replaces the origin policy: given the request's origin (None when
            absent) and the request, whether to accept it.
        admit: Sees the environ (cookies, path, headers) before the handshake completes and
            returns False to refuse with 403, e.g. without a valid session cookie.
        trusted_proxies: Peers whose X-Forwarded-For / -Proto / -Host headers are believed;
            by default those of ``WSBACKEND_TRUSTED_PROXIES``, else loopback.
        hub: Where broadcast, groups and presence reach: by default a :class:`RedisHub` for
            ``WSBACKEND_REDIS_URL`` if it is set, else this process only (:class:`LocalHub`).
    """

    handles_websocket_upgrades = True
    """Tells our pywsgi handler not to wrap this application again."""

    def __init__(
        self,
        site_app: WSGIApp | None = None,
        apps: AppRegistry | Mapping[str, Application] | None = None,
        *,
        default_app: Application | None = None,
        settings: ConnectionSettings = DEFAULT_SETTINGS,
        limits: Limits = DEFAULT_LIMITS,
        deflate: DeflateConfig | None = DeflateConfig(),  # noqa: B008 - frozen, shared safely
        allowed_origins: Iterable[str] = (),
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
        self.hub = hub_from_environment() if hub is None else hub
        if self.registry is not None:
            self.registry.bind(self.hub)
        self.site_app = site_app
        self.settings = settings
        self.limits = limits
        self.deflate = deflate
        self.admit = admit
        self.proxies = (
            TrustedProxies.from_environment()
            if trusted_proxies is None
            else TrustedProxies(trusted_proxies)
        )
        self.policy = HandshakePolicy(
            select_subprotocol=self.registry.select if self.registry is not None else None,
            check_origin=check_origin or OriginPolicy.allowing(allowed_origins),
            deflate=deflate,
        )

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if "HTTP_UPGRADE" in environ:
            view = self.proxies.resolve(environ)
            request = request_from_environ(environ, view.host)
            if is_upgrade_request(request):
                return self._upgrade(environ, request, view, start_response)
        if self.site_app is None:
            return respond(start_response, "404 Not Found", "Only WebSocket connections here.")
        return self.site_app(environ, start_response)

    def _upgrade(
        self,
        environ: dict[str, Any],
        request: HandshakeRequest,
        view: ClientView,
        start_response: StartResponse,
    ) -> Iterable[bytes]:
        peer = peer_name(environ)
        host_upgraded = environ.get("wsgi.websocket") is not None
        if host_upgraded and self.registry is None and self.site_app is not None:
            return self.site_app(environ, start_response)
        try:
            accepted = accept(request, self.policy, view.scheme == "https")
            if self.admit is not None and not self.admit(environ):
                raise Forbidden("refused by the admission hook")
        except HandshakeError as exc:
            log.info("%s: refused %s: %s: %s", peer, request.target[:200], exc.status_line, exc)
            if host_upgraded:
                return []
            return respond(start_response, exc.status_line, str(exc), exc.headers)
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
        if websocket is None:
            return transport.response
        try:
            if self.registry is None:
                self._run_site_app(environ, websocket, request)
            else:
                app = self.registry.app_for(accepted.subprotocol)
                run_session(app, Client(websocket, environ, view.remote_addr, app.directory))
        finally:
            websocket.release()
        return transport.response

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
            try:
                sock.sendall(accepted.response_head())
            except OSError as exc:
                log.info("%s: vanished during the handshake: %s", peer, exc)
                sock.close()
                return None
            endpoint = Endpoint.for_handshake(accepted, self.limits, self.deflate)
        log.debug(
            "%s: open, %s, subprotocol %r", peer, accepted.version.value, accepted.subprotocol
        )
        return WebSocket(sock, endpoint, self.settings, initial_data, peer, accepted.subprotocol)

    def _run_site_app(
        self, environ: dict[str, Any], websocket: WebSocket, request: HandshakeRequest
    ) -> None:
        """gevent-websocket style: the site's application drives ``environ["wsgi.websocket"]``."""
        assert self.site_app is not None
        environ["wsgi.websocket"] = websocket
        environ["wsgi.websocket_version"] = (
            request.headers.get(SEC_WEBSOCKET_VERSION) or websocket.version.value
        )
        result = self.site_app(environ, lambda status, headers, exc_info=None: None)
        try:
            for _ in result:
                pass
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
