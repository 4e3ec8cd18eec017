"""What a connection reports when it ends, for the session log line and the metrics: messages
and bytes each way, and who closed it."""

from __future__ import annotations

import gevent

from tests.connection.test_websocket import MASK, pair
from wsbackend.connection.websocket import SLOW_READER_REASON
from wsbackend.protocol.hybi import Opcode, encode_frame


def test_messages_and_bytes_each_way() -> None:
    websocket, peer = pair()
    incoming = encode_frame(Opcode.TEXT, b"one", mask=MASK) + encode_frame(
        Opcode.BINARY, b"two", mask=MASK
    )
    peer.sock.sendall(incoming)
    assert websocket.receive() == "one"
    assert websocket.receive() == b"two"
    websocket.send("reply")
    assert websocket.send_nowait(b"queued")
    assert websocket.send_prepared(encode_frame(Opcode.TEXT, b"prepared"))
    gevent.sleep(0.05)
    assert (websocket.messages_received, websocket.bytes_received) == (2, len(incoming))
    assert websocket.messages_sent == 3
    outgoing = encode_frame(Opcode.TEXT, b"reply") + encode_frame(Opcode.BINARY, b"queued")
    outgoing += encode_frame(Opcode.TEXT, b"prepared")
    assert websocket.bytes_sent == len(outgoing)
    peer.sock.close()
    websocket.release()


def test_a_send_on_a_closed_connection_is_not_counted() -> None:
    websocket, _peer = pair(close_timeout=0.2)
    websocket.close()
    assert not websocket.send_nowait("too late")
    assert websocket.messages_sent == 0
    websocket.release()


def test_the_client_closed() -> None:
    websocket, peer = pair()
    peer.sock.sendall(encode_frame(Opcode.CLOSE, b"\x03\xe8", mask=MASK))
    assert websocket.receive() is None
    websocket.release()
    assert (websocket.close_code, websocket.closed_by) == (1000, "client")


def test_the_server_closed() -> None:
    websocket, peer = pair()
    gevent.spawn_later(0.05, peer.sock.sendall, encode_frame(Opcode.CLOSE, b"\x03\xe8", mask=MASK))
    websocket.close(1001)
    websocket.release()
    assert (websocket.close_code, websocket.closed_by) == (1000, "server")


def test_the_connection_was_lost() -> None:
    websocket, peer = pair()
    peer.sock.close()
    assert websocket.receive() is None
    websocket.release()
    assert (websocket.close_code, websocket.closed_by) == (1006, "lost")


def test_an_overflowing_peer_was_closed_by_the_server() -> None:
    websocket, _peer = pair(max_send_buffer=50_000, max_send_burst=100_000, send_timeout=0.5)
    frame = encode_frame(Opcode.BINARY, b"x" * 40_000)
    assert [websocket.send_prepared(frame) for _ in range(3)] == [True, True, False]
    websocket.release()
    assert (websocket.close_code, websocket.closed_by) == (1008, "server")
    assert websocket.close_reason == SLOW_READER_REASON
