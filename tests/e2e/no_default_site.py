"""Our middleware with one subprotocol and no default app: a client must offer ``echo``."""

from apps.echo import EchoApp
from wsbackend import WebSocketMiddleware

application = WebSocketMiddleware(None, {"echo": EchoApp()})
