"""Fairness turns: a connection whose input is always waiting lets another connection's message
be handled after a bounded amount of work, counted in frames, not in time; one whose reads wait
for input never rests. And the read buffer all plain sockets share."""

from __future__ import annotations

import gevent
import pytest
from gevent import socket

from wsbackend.connection import ConnectionSettings, WebSocket
from wsbackend.connection.reading import Reading
from wsbackend.protocol import Endpoint, ProtocolVersion, Side, TextMessage
from wsbackend.protocol.hybi import Opcode, encode_frame

MASK = b"\x01\x02\x03\x04"
GREEDY_MESSAGES = 3000
"""Sent in one go before the server reads, so that one read holds far more than a turn."""


def _frame(version: ProtocolVersion, text: str) -> bytes:
    if version.is_hixie:
        return b"\x00" + text.encode() + b"\xff"
    return encode_frame(Opcode.TEXT, text.encode(), mask=MASK)


def _connection(
    version: ProtocolVersion, settings: ConnectionSettings
) -> tuple[WebSocket, socket.socket]:
    server_sock, client_sock = socket.socketpair()
    client_sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    websocket = WebSocket(server_sock, Endpoint(version), settings, peer="test")
    return websocket, client_sock


@pytest.mark.parametrize("version", [ProtocolVersion.RFC_6455, ProtocolVersion.HIXIE_75])
@pytest.mark.parametrize("messages_per_turn", [32, 10_000])
def test_a_greedy_connection_yields_within_a_bounded_number_of_frames(
    version: ProtocolVersion, messages_per_turn: int
) -> None:
    """One read of the greedy peer's input holds 3,000 frames; the polite peer's message is
    handled before more than ``turn_frames`` of them were decoded, whatever ``turn_messages``
    allows (before, the whole read was decoded at once). The greedy peer's messages all arrive,
    in order."""
    settings = ConnectionSettings(
        ping_interval=None, turn_messages=messages_per_turn, turn_frames=64
    )
    greedy, greedy_peer = _connection(version, settings)
    polite, polite_peer = _connection(version, settings)
    greedy_peer.sendall(b"".join(_frame(version, str(i)) for i in range(GREEDY_MESSAGES)))
    polite_peer.sendall(_frame(version, "polite"))
    received: list[str | bytes] = []
    decoded_when_polite_was_handled: list[int] = []

    def read_greedy() -> None:
        while len(received) < GREEDY_MESSAGES:
            message = greedy.receive()
            assert message is not None
            received.append(message)

    def read_polite() -> None:
        assert polite.receive() == "polite"
        decoded_when_polite_was_handled.append(greedy.messages_received)

    readers = [gevent.spawn(read_greedy), gevent.spawn(read_polite)]
    gevent.joinall(readers, timeout=30, raise_error=True)
    assert decoded_when_polite_was_handled and decoded_when_polite_was_handled[0] <= 64
    assert received == [str(i) for i in range(GREEDY_MESSAGES)]
    for websocket, sock in ((greedy, greedy_peer), (polite, polite_peer)):
        sock.close()
        websocket.release()


def _count_rests(monkeypatch: pytest.MonkeyPatch) -> list[WebSocket]:
    """Each connection that ends a turn (rests), once per rest."""
    rests: list[WebSocket] = []
    end_turn = Reading._end_turn

    def counted(self: Reading) -> None:
        assert isinstance(self, WebSocket)
        rests.append(self)
        end_turn(self)

    monkeypatch.setattr(Reading, "_end_turn", counted)
    return rests


def test_a_read_that_waited_starts_a_new_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    """A peer that speaks only once answered makes every read wait: the others ran then, so the
    connection never rests, however many messages pass (before: every ``turn_messages``)."""
    rests = _count_rests(monkeypatch)
    websocket, peer = _connection(ProtocolVersion.RFC_6455, ConnectionSettings(turn_messages=2))
    client = Endpoint(ProtocolVersion.RFC_6455, Side.CLIENT)
    exchanges = 20

    def echo() -> None:
        while (message := websocket.receive()) is not None:
            websocket.send(message)

    server = gevent.spawn(echo)
    with gevent.Timeout(10):
        for i in range(exchanges):
            peer.sendall(_frame(ProtocolVersion.RFC_6455, str(i)))
            answer: list[object] = []
            while not answer:
                client.receive_data(peer.recv(1 << 16))
                answer = [e.data for e in client.events_received() if isinstance(e, TextMessage)]
            assert answer == [str(i)]
    assert websocket.messages_received == exchanges
    assert rests == []
    peer.close()
    server.join(timeout=10)
    websocket.release()


def test_a_peer_whose_input_is_always_waiting_still_rests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads that fill ``read_size`` never wait, so they do not start a turn: the connection
    rests every ``turn_messages`` messages even though each read holds fewer than that."""
    rests = _count_rests(monkeypatch)
    settings = ConnectionSettings(
        ping_interval=None, read_size=64, turn_messages=32, turn_frames=10_000
    )
    greedy, greedy_peer = _connection(ProtocolVersion.RFC_6455, settings)
    count = 640
    greedy_peer.sendall(b"".join(_frame(ProtocolVersion.RFC_6455, "m") for _ in range(count)))
    with gevent.Timeout(10):
        received = [greedy.receive() for _ in range(count)]
    assert received == ["m"] * count
    assert len(rests) >= count // 32 - 1
    greedy_peer.close()
    greedy.release()


def test_connections_reading_at_once_each_get_their_own_bytes_in_order() -> None:
    """Every plain socket reads through one shared buffer: many connections reading in turn,
    each read copied out before the next, get only their own messages, in order."""
    settings = ConnectionSettings(ping_interval=None, read_size=256, turn_messages=3)
    pairs = [_connection(ProtocolVersion.RFC_6455, settings) for _ in range(4)]
    count = 300
    expected = {
        index: [f"{index}:{i}:" + "x" * (i % 50) for i in range(count)] for index in range(4)
    }
    received: dict[int, list[str | bytes]] = {index: [] for index in range(4)}

    def read(index: int) -> None:
        websocket = pairs[index][0]
        while len(received[index]) < count:
            message = websocket.receive()
            assert message is not None
            received[index].append(message)

    def send(index: int) -> None:
        sock = pairs[index][1]
        for text in expected[index]:
            sock.sendall(_frame(ProtocolVersion.RFC_6455, text))
            gevent.sleep(0)

    workers = [gevent.spawn(read, i) for i in range(4)] + [gevent.spawn(send, i) for i in range(4)]
    gevent.joinall(workers, timeout=30, raise_error=True)
    assert received == expected
    for websocket, sock in pairs:
        sock.close()
        websocket.release()
