"""Large messages over a real socket pair: read whole, written as header then payload,
and never reordered with the small messages queued around them."""

from __future__ import annotations

import gevent
from gevent import socket

from tests.servers import TIME_UNIT
from wsbackend.connection import ConnectionSettings, WebSocket
from wsbackend.protocol import BinaryMessage, Endpoint, ProtocolVersion, Side, TextMessage
from wsbackend.protocol.hybi import Opcode, encode_frame

MASK = b"\x01\x02\x03\x04"
BIG = bytes((index * 31) & 0xFF for index in range(3 << 20))


def connected() -> tuple[WebSocket, socket.socket]:
    server_sock, client_sock = socket.socketpair()
    endpoint = Endpoint(ProtocolVersion.RFC_6455)
    websocket = WebSocket(server_sock, endpoint, ConnectionSettings(close_timeout=0.5), peer="t")
    return websocket, client_sock


def read_messages(sock: socket.socket, count: int) -> list[object]:
    client = Endpoint(ProtocolVersion.RFC_6455, Side.CLIENT)
    events: list[object] = []
    with gevent.Timeout(30 * TIME_UNIT):
        while len(events) < count:
            data = sock.recv(1 << 16)
            assert data, "the server hung up"
            client.receive_data(data)
            events += client.events_received()
    return events


def test_large_messages_arrive_whole_between_small_ones() -> None:
    websocket, peer = connected()
    frames = [
        encode_frame(Opcode.TEXT, b"first", mask=MASK),
        encode_frame(Opcode.BINARY, BIG, mask=MASK),
        encode_frame(Opcode.BINARY, BIG[:100_000], mask=MASK),
        encode_frame(Opcode.TEXT, b"last", mask=MASK),
    ]
    sender = gevent.spawn(peer.sendall, b"".join(frames))
    received = [websocket.receive() for _ in range(4)]
    sender.get(timeout=30 * TIME_UNIT)
    assert received == ["first", BIG, BIG[:100_000], "last"]
    websocket.release()
    peer.close()


def test_sends_around_a_large_one_keep_their_order() -> None:
    """The large payloads go out on their own, after their headers; what other greenlets
    queue meanwhile, small and large, follows in order."""
    websocket, peer = connected()
    reader = gevent.spawn(read_messages, peer, 23)

    def others() -> None:
        for n in range(10):
            websocket.send(f"small {n}")
        websocket.send(BIG[:70_000])
        for n in range(10, 20):
            websocket.send(f"small {n}")

    websocket.send("before")
    queued = gevent.spawn(others)
    websocket.send(BIG)  # more than the socket takes: this write blocks, the others queue
    queued.get(timeout=30 * TIME_UNIT)
    events = reader.get(timeout=30 * TIME_UNIT)
    assert events == [
        TextMessage("before"),
        BinaryMessage(BIG),
        *(TextMessage(f"small {n}") for n in range(10)),
        BinaryMessage(BIG[:70_000]),
        *(TextMessage(f"small {n}") for n in range(10, 20)),
    ]
    websocket.release()
    peer.close()
