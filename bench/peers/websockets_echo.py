"""websockets' asyncio echo server, for the side-by-side attack figures: ``python
websockets_echo.py PORT``. 16 MiB messages, as wsbackend's default limit."""

from __future__ import annotations

import asyncio
import sys

from websockets.asyncio.server import ServerConnection, serve


async def echo(websocket: ServerConnection) -> None:
    async for message in websocket:
        await websocket.send(message)


async def main(port: int) -> None:
    async with serve(echo, "127.0.0.1", port, max_size=16 * 1024 * 1024) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
