"""websockets' asyncio server with its defaults (permessage-deflate offered), as its docs show."""

from __future__ import annotations

import asyncio
import sys

from websockets.asyncio.server import ServerConnection, broadcast, serve

listeners: set[ServerConnection] = set()


async def handler(websocket: ServerConnection) -> None:
    if not websocket.request or not websocket.request.path.startswith("/broadcast"):
        async for message in websocket:
            await websocket.send(message)
        return
    listeners.add(websocket)
    try:
        async for message in websocket:
            broadcast(listeners - {websocket}, message)
    finally:
        listeners.discard(websocket)


async def main(port: int) -> None:
    async with serve(handler, "127.0.0.1", port, max_size=None, backlog=4096) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
