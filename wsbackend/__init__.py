"""wsbackend: a WebSocket backend on gevent for sites behind Apache or nginx."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
