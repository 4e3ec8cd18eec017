"""A raw ASGI app, what Starlette and FastAPI reduce to, for ``uvicorn --loop uvloop``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]

listeners: set[Send] = set()


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    fanout = scope["path"].startswith("/broadcast")
    if fanout:
        listeners.add(send)
    try:
        while True:
            event = await receive()
            if event["type"] == "websocket.disconnect":
                return
            reply = {
                "type": "websocket.send",
                "text": event.get("text"),
                "bytes": event.get("bytes"),
            }
            if not fanout:
                await send(reply)
                continue
            for other in list(listeners):
                if other is not send:
                    await other(reply)
    finally:
        listeners.discard(send)
