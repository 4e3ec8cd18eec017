"""The client's address, scheme and host as a trusted reverse proxy reports them.

Behind Apache or nginx the peer of every connection is the proxy. ``X-Forwarded-For``,
``X-Forwarded-Proto`` and ``X-Forwarded-Host`` say who the client really is, but anyone can send
those headers, so they are believed only when the peer is a configured trusted proxy. The
scheme decides ``ws://`` or ``wss://`` in hixie's Location header; the host feeds the origin
check; the address becomes ``Client.remote_addr``.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

__all__ = ["DEFAULT_TRUSTED", "ClientView", "TrustedProxies"]

DEFAULT_TRUSTED = ("127.0.0.1", "::1")
"""A proxy on the same machine, the usual deployment; as gunicorn's ``forwarded_allow_ips``."""

_FORWARDED_FOR, _FORWARDED_PROTO, _FORWARDED_HOST = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
)
"""The environ keys of the headers a trusted proxy reports the client with."""


class ClientView(NamedTuple):
    """Where a request really came from."""

    remote_addr: str
    scheme: str
    host: str | None


class TrustedProxies:
    """Resolves the forwarded headers of requests whose peer is a trusted proxy.

    Args:
        proxies: Addresses or networks (``"10.0.0.0/8"``) of trusted proxies; ``"*"`` trusts
            every peer, for a backend that only a proxy can reach.
    """

    def __init__(self, proxies: Iterable[str] = DEFAULT_TRUSTED) -> None:
        self._any = False
        self._networks = []
        for proxy in proxies:
            proxy = proxy.strip()
            if proxy == "*":
                self._any = True
            elif proxy:
                self._networks.append(ipaddress.ip_network(proxy, strict=False))

        # Every request asks about its peer, and the peers are few (the proxies) or each asks
        # repeatedly: parsing the address each time cost more than the rest of the resolution.
        self.trusts = functools.lru_cache(maxsize=4096)(self._trusts)

    def _trusts(self, address: str) -> bool:
        """Whether ``address`` is a trusted proxy."""
        if self._any:
            return True
        try:
            peer = ipaddress.ip_address(address.removeprefix("::ffff:"))
        except ValueError:
            return False
        return any(peer in network for network in self._networks)

    def resolve(self, environ: Mapping[str, Any]) -> ClientView:
        """The client behind the peer, from the forwarded headers if the peer is trusted."""
        peer = str(environ.get("REMOTE_ADDR", ""))
        scheme = str(environ.get("wsgi.url_scheme", "http"))
        forwarded_for = environ.get(_FORWARDED_FOR)
        proto = environ.get(_FORWARDED_PROTO)
        host = environ.get(_FORWARDED_HOST)
        # Most requests carry none of them: the peer need not be looked up then.
        if not (forwarded_for or proto or host) or not self.trusts(peer):
            return ClientView(peer, scheme, None)
        forwarded_for, proto, host = str(forwarded_for or ""), str(proto or ""), str(host or "")
        proto = proto.split(",")[0].strip().lower()
        host = host.split(",")[0].strip()
        return ClientView(
            self._client_address(forwarded_for) or peer,
            proto if proto in ("http", "https") else scheme,
            host or None,
        )

    def _client_address(self, forwarded_for: str) -> str | None:
        """The right-most address that is not itself a trusted proxy (each proxy appends the
        address it saw, so everything left of an untrusted hop may be forged)."""
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop
        return hops[0] if hops else None
