"""Trusted-proxy resolution (wsbackend/proxies.py)."""

from __future__ import annotations

from wsbackend.proxies import ClientView, TrustedProxies


def environ(peer: str, **headers: str) -> dict[str, str]:
    return {"REMOTE_ADDR": peer, "wsgi.url_scheme": "http", **headers}


FORWARDED = {
    "HTTP_X_FORWARDED_FOR": "203.0.113.9",
    "HTTP_X_FORWARDED_PROTO": "https",
    "HTTP_X_FORWARDED_HOST": "www.example.com",
}


def test_forwarded_headers_from_a_trusted_proxy_are_believed() -> None:
    view = TrustedProxies().resolve(environ("127.0.0.1", **FORWARDED))
    assert view == ClientView("203.0.113.9", "https", "www.example.com")


def test_forwarded_headers_from_anyone_else_are_ignored() -> None:
    view = TrustedProxies().resolve(environ("198.51.100.7", **FORWARDED))
    assert view == ClientView("198.51.100.7", "http", None)


def test_networks_and_ipv6() -> None:
    proxies = TrustedProxies(["10.0.0.0/8", "::1"])
    assert proxies.trusts("10.1.2.3") and proxies.trusts("::1")
    assert not proxies.trusts("11.0.0.1") and not proxies.trusts("not an address")


def test_the_client_is_the_rightmost_untrusted_hop() -> None:
    """Everything left of the first untrusted hop may be forged by the client."""
    proxies = TrustedProxies(["127.0.0.1", "10.0.0.0/8"])
    chain = {"HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.9, 10.0.0.2"}
    assert proxies.resolve(environ("127.0.0.1", **chain)).remote_addr == "203.0.113.9"


def test_unknown_scheme_keeps_the_real_one() -> None:
    view = TrustedProxies().resolve(environ("::1", HTTP_X_FORWARDED_PROTO="gopher"))
    assert view.scheme == "http" and view.remote_addr == "::1"


def test_without_forwarded_headers_the_peer_is_not_looked_up() -> None:
    """Most requests carry no forwarded header: they are resolved to the peer as it is, without
    asking whether it is a trusted proxy; each of the three headers alone is still looked at."""
    proxies = TrustedProxies()
    asked: list[str] = []
    lookup = proxies.trusts
    proxies.trusts = lambda address: asked.append(address) or lookup(address)  # type: ignore[method-assign]
    assert proxies.resolve(environ("127.0.0.1")) == ClientView("127.0.0.1", "http", None)
    assert asked == []
    for key, value in FORWARDED.items():
        asked.clear()
        assert proxies.resolve(environ("127.0.0.1", **{key: value})) != ClientView(
            "127.0.0.1", "http", None
        )
        assert asked[0] == "127.0.0.1"
