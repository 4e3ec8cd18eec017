"""wsbackend: a WebSocket backend on gevent for sites behind Apache or nginx.

The public API is the names in ``__all__``; they load lazily (PEP 562), so that importing the
sans-IO ``wsbackend.protocol`` never imports gevent.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "AppRegistry": "wsbackend.application",
    "Application": "wsbackend.application",
    "Client": "wsbackend.application",
    "CloseCode": "wsbackend.protocol",
    "ConnectionClosed": "wsbackend.connection",
    "ConnectionSettings": "wsbackend.connection",
    "DeflateConfig": "wsbackend.protocol",
    "Group": "wsbackend.application",
    "Hub": "wsbackend.application.hub",
    "LocalHub": "wsbackend.application.hub",
    "Member": "wsbackend.application.hub",
    "RedisHub": "wsbackend.application.hub",
    "OriginPolicy": "wsbackend.protocol",
    "Limits": "wsbackend.protocol",
    "WebSocket": "wsbackend.connection",
    "WebSocketMiddleware": "wsbackend.wsgi",
}

__all__ = [
    "AppRegistry",
    "Application",
    "Client",
    "CloseCode",
    "ConnectionClosed",
    "ConnectionSettings",
    "DeflateConfig",
    "Group",
    "Hub",
    "Limits",
    "LocalHub",
    "Member",
    "OriginPolicy",
    "RedisHub",
    "WebSocket",
    "WebSocketMiddleware",
    "__version__",
]

if TYPE_CHECKING:
    from .application import Application, AppRegistry, Client, Group
    from .application.hub import Hub, LocalHub, Member, RedisHub
    from .connection import ConnectionClosed, ConnectionSettings, WebSocket
    from .protocol import CloseCode, DeflateConfig, Limits, OriginPolicy
    from .wsgi import WebSocketMiddleware


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'wsbackend' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
