"""Fairness turns: a connection whose input is always waiting lets another connection's message
be handled after a bounded amount of work, counted in frames, not in time."""

from __future__ import annotations

import gevent
import pytest
from gevent import socket

from wsbackend.connection import ConnectionSettings, WebSocket
from wsbackend.protocol import Endpoint, ProtocolVersion
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
