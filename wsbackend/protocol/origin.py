"""Which pages may open a socket: same origin by default, widened by an allowlist.

Browsers send the page's origin with every WebSocket handshake (``Origin``; hybi-07/08 call it
``Sec-WebSocket-Origin``) but do not apply the same-origin policy to WebSockets: a page on any
site can open a socket to ours with the user's cookies. Comparing the origin with the Host the
request was sent to defeats that cross-site WebSocket hijacking (RFC 6455 §10.2).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from . import headers as h
from .request import HandshakeRequest

__all__ = ["OriginPolicy", "same_origin"]

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _split_host(authority: str) -> tuple[str, int | None]:
    """``"Example.com:8080"`` -> ``("example.com", 8080)``; ``"[::1]"`` -> ``("::1", None)``."""
    try:
        parts = urlsplit(f"//{authority.strip()}")
        return (parts.hostname or "").lower(), parts.port
    except ValueError:
        return "", None


@functools.lru_cache(maxsize=1024)
def same_origin(origin: str, host: str) -> bool:
    """Whether the page at ``origin`` is on the host the request was sent to.

    A site's clients send a handful of (origin, host) pairs over and over: the answers are
    remembered (a bounded cache; it holds only the two strings and the answer).

    The host names must match. Ports must match when the Host header names one; when it does
    not, any port of the origin is accepted, so that a TLS-terminating proxy that does not say
    it terminated TLS does not lock out the site's own pages.
    """
    try:
        page = urlsplit(origin.strip())
        page_port = page.port or _DEFAULT_PORTS.get(page.scheme.lower())
    except ValueError:
        return False
    page_host = (page.hostname or "").lower()
    request_host, request_port = _split_host(host)
    if not page_host or page_host != request_host:
        return False
    return request_port is None or request_port == page_port


def _normalize(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


@dataclass(frozen=True, slots=True)
class OriginPolicy:
    """The origin check of the handshake.

    Attributes:
        allowed: Origins accepted besides the site's own, e.g. ``"https://app.example.com"``;
            ``"*"`` accepts every origin.
        allow_missing: Accept requests without an origin. Browsers always send one, so only
            non-browser clients (which cannot be hijacked through a user's cookies) omit it.
    """

    allowed: frozenset[str] = frozenset()
    allow_missing: bool = True

    @classmethod
    def allowing(cls, origins: Iterable[str], allow_missing: bool = True) -> OriginPolicy:
        """A policy accepting the site's own origin and ``origins``."""
        return cls(frozenset(_normalize(origin) for origin in origins), allow_missing)

    def __call__(self, origin: str | None, request: HandshakeRequest) -> bool:
        if origin is None:
            return self.allow_missing
        allowed = self.allowed
        if allowed and ("*" in allowed or _normalize(origin) in allowed):
            return True
        return same_origin(origin, request.headers.get(h.HOST) or "")
