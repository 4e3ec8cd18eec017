"""The sample site: HTML pages and WebSocket apps from one WSGI application, one origin.

``wsbackend serve`` runs this by default. Pages are served at ``/`` and ``/<app>/``; sockets
at any path, the app chosen by the subprotocol the page asks for (the echo app for none).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

from wsbackend import AppRegistry, WebSocketMiddleware

from .chat import ChatApp
from .cursors import CursorsApp
from .echo import EchoApp

PAGES = ("echo", "chat", "cursors")


def _page(name: str) -> bytes:
    return resources.files(__package__).joinpath(name, "index.html").read_bytes()


def _index() -> bytes:
    links = "".join(f'<li><a href="/{name}/">{name}</a></li>' for name in PAGES)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>wsbackend</title>'
        f"</head><body><h1>wsbackend sample apps</h1><ul>{links}</ul></body></html>"
    ).encode()


def pages(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The site's own WSGI application: the sample pages."""
    path = environ.get("PATH_INFO", "/")
    name = path.strip("/")
    if path == "/":
        body = _index()
    elif name in PAGES and path.endswith("/"):
        body = _page(name)
    elif name in PAGES:
        start_response("301 Moved Permanently", [("Location", f"/{name}/")])
        return [b""]
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    start_response(
        "200 OK",
        [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]


echo = EchoApp()
registry = AppRegistry(
    {"echo": echo, "chat": ChatApp(), "cursors": CursorsApp()},
    default=echo,
)
application = WebSocketMiddleware(pages, registry)
