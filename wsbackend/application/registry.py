"""Which application serves a connection, chosen by the subprotocols the client offers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..protocol import BadRequest
from .base import Application
from .hub import Hub

__all__ = ["AppRegistry"]


class AppRegistry:
    """Applications by subprotocol name, plus a default for clients that offer none.

    ``new WebSocket(url, "chat")`` reaches the app registered as ``chat``; ``new WebSocket(url)``
    reaches the default. The first offer that has an app wins and is named in the reply.

    Args:
        apps: Subprotocol name to application.
        default: Serves clients that offer no subprotocol; without it they are refused.
    """

    def __init__(
        self, apps: Mapping[str, Application] | None = None, default: Application | None = None
    ) -> None:
        self._apps: dict[str, Application] = dict(apps or {})
        self.default = default
        self._hub: Hub | None = None

    def register(self, subprotocol: str, app: Application) -> None:
        """Serve clients that offer ``subprotocol`` with ``app``."""
        self._apps[subprotocol] = app
        if self._hub is not None:
            self.bind(self._hub)

    def bind(self, hub: Hub) -> None:
        """Share every application's broadcasts and presence through ``hub``.

        An application is known to the hub by its first subprotocol name, the same in every
        process; the default application, if it has none, by ``""``.
        """
        self._hub = hub
        named = list(self._apps.items())
        if self.default is not None:
            named.append(("", self.default))
        for name, app in named:
            if app.directory.hub is not hub:
                app.directory.bind(hub, name)

    @property
    def subprotocols(self) -> list[str]:
        """The registered subprotocol names."""
        return list(self._apps)

    def select(self, offers: Sequence[str]) -> str | None:
        """The subprotocol to answer with; None for the default app.

        Raises:
            BadRequest: No offer has an app, or none was offered and there is no default.
        """
        for offer in offers:
            if offer in self._apps:
                return offer
        if offers:
            names = ", ".join(repr(offer[:40]) for offer in offers[:8])
            raise BadRequest(f"no application serves the offered subprotocols {names}")
        if self.default is None:
            raise BadRequest("no subprotocol offered and no default application")
        return None

    def app_for(self, subprotocol: str | None) -> Application:
        """The application for a subprotocol :meth:`select` returned."""
        if subprotocol is None:
            if self.default is None:
                raise LookupError("no default application")
            return self.default
        return self._apps[subprotocol]
