"""picows' server on uvloop (its recommended loop), echoing or fanning out every data frame."""

from __future__ import annotations

import sys

import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server

listeners: set[WSTransport] = set()


class Echo(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY):
            transport.send(frame.msg_type, frame.get_payload_as_memoryview())
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()


class Fanout(Echo):
    def on_ws_connected(self, transport: WSTransport) -> None:
        listeners.add(transport)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        listeners.discard(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            super().on_ws_frame(transport, frame)
            return
        payload = frame.get_payload_as_bytes()
        for other in listeners:
            if other is not transport:
                other.send(frame.msg_type, payload)


def listener(request: WSUpgradeRequest) -> WSListener:
    return Fanout() if request.path.startswith(b"/broadcast") else Echo()


async def main(port: int) -> None:
    server = await ws_create_server(listener, "127.0.0.1", port, max_frame_size=64 << 20)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
