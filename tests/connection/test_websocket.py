"""The gevent WebSocket (wsbackend/connection/websocket.py) over a real socket pair: keepalive,
dead peers, the bounded send buffer, concurrent sends, and release."""

from __future__ import annotations

import contextlib
import gc

import gevent
import greenlet
import pytest
from gevent import socket

from wsbackend.connection import ConnectionClosed, ConnectionSettings, WebSocket
from wsbackend.protocol import (
    BinaryMessage,
    Closed,
    Endpoint,
    Ping,
    ProtocolVersion,
    Side,
    TextMessage,
)
from wsbackend.protocol.hybi import Opcode, encode_frame

MASK = b"\x01\x02\x03\x04"


class Peer:
    """The client end: a socket and a client-side endpoint that decodes what the server sends."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.endpoint = Endpoint(ProtocolVersion.RFC_6455, Side.CLIENT)
        self.events: list[object] = []

    def read_events(self, timeout: float = 5.0) -> list[object]:
        with gevent.Timeout(timeout):
            data = self.sock.recv(1 << 20)
        if data:
            self.endpoint.receive_data(data)
        else:
            self.endpoint.receive_eof()
        return self.endpoint.events_received()

    def send_text(self, text: str) -> None:
        self.sock.sendall(encode_frame(Opcode.TEXT, text.encode(), mask=MASK))


def pair(**settings: object) -> tuple[WebSocket, Peer]:
    server_sock, client_sock = socket.socketpair()
    endpoint = Endpoint(ProtocolVersion.RFC_6455)
    options: dict[str, object] = {"close_timeout": 0.5, **settings}
    websocket = WebSocket(server_sock, endpoint, ConnectionSettings(**options), peer="test")  # type: ignore[arg-type]
    return websocket, Peer(client_sock)


def test_receive_returns_messages_then_none_after_close() -> None:
    websocket, peer = pair()
    peer.sock.sendall(
        encode_frame(Opcode.TEXT, b"one", mask=MASK)
        + encode_frame(Opcode.BINARY, b"two", mask=MASK)
        + encode_frame(Opcode.CLOSE, b"\x03\xe8", mask=MASK)
    )
    assert websocket.receive() == "one"
    assert websocket.receive() == b"two"
    assert websocket.receive() is None
    assert websocket.closed and websocket.close_code == 1000
    websocket.release()
    assert peer.read_events() == [Closed(1000, "", True)]


def test_concurrent_sends_never_interleave() -> None:
    """Large messages from many greenlets arrive whole and in per-greenlet order."""
    websocket, peer = pair()
    payloads = {index: bytes([index]) * 300_000 for index in range(5)}

    def sender(index: int) -> None:
        for _ in range(3):
            websocket.send(payloads[index])

    senders = [gevent.spawn(sender, index) for index in payloads]
    received: list[bytes] = []
    while len(received) < 15:
        received.extend(
            event.data for event in peer.read_events() if isinstance(event, BinaryMessage)
        )
    gevent.joinall(senders, raise_error=True)
    assert sorted(received) == sorted(payload for payload in payloads.values() for _ in range(3))
    websocket.release()


def test_keepalive_pings_a_silent_peer_and_drops_a_dead_one() -> None:
    websocket, peer = pair(ping_interval=0.2, ping_timeout=0.3)
    reader = gevent.spawn(websocket.receive)
    events = peer.read_events(timeout=2)
    assert any(isinstance(event, Ping) for event in events)
    assert reader.get(timeout=3) is None
    assert websocket.close_code == 1011
    # The dead peer is told why, as far as the socket still takes it.
    events = peer.read_events(timeout=2)
    assert events and isinstance(events[0], Closed) and events[0].code == 1011
    websocket.release()


def test_answered_pings_keep_the_connection_open() -> None:
    websocket, peer = pair(ping_interval=0.2, ping_timeout=0.3)
    reader = gevent.spawn(websocket.receive)
    deadline = gevent.get_hub().loop.now() + 1.5
    while gevent.get_hub().loop.now() < deadline:
        for event in peer.read_events(timeout=2):
            if isinstance(event, Ping):
                peer.sock.sendall(encode_frame(Opcode.PONG, event.payload, mask=MASK))
    assert not websocket.closed
    peer.send_text("still alive")
    assert reader.get(timeout=2) == "still alive"
    websocket.release()


def test_prepared_bytes_beyond_the_buffer_close_a_slow_peer_with_1008() -> None:
    websocket, _peer = pair(max_send_buffer=50_000, max_send_burst=100_000, send_timeout=0.5)
    frame = encode_frame(Opcode.BINARY, b"x" * 40_000)
    accepted = [websocket.send_prepared(frame) for _ in range(3)]
    assert accepted == [True, True, False]
    assert websocket.closed and websocket.close_code == 1008
    websocket.release()


def test_a_burst_is_tolerated_but_a_reader_that_cannot_keep_up_is_cut_off() -> None:
    """Broadcast backpressure tells a burst that a reader takes from a reader that does not."""
    websocket, peer = pair(
        max_send_buffer=100_000, max_send_burst=10_000_000, slow_reader_grace=0.5, send_timeout=10
    )
    frame = encode_frame(Opcode.BINARY, b"x" * 400_000)
    assert all(websocket.send_prepared(frame) for _ in range(5))
    received = 0
    while received < 5:
        received += sum(isinstance(event, BinaryMessage) for event in peer.read_events())
    gevent.sleep(0.7)
    assert all(websocket.send_prepared(frame) for _ in range(5)), "a reader that kept up"
    gevent.sleep(0.7)
    assert not websocket.send_prepared(frame)
    assert websocket.close_code == 1008
    websocket.release()


def test_send_after_close_raises_connection_closed() -> None:
    websocket, _peer = pair(close_timeout=0.2)
    websocket.close()
    with pytest.raises(ConnectionClosed):
        websocket.send("too late")
    websocket.release()


def test_vanished_peer_ends_receive_with_1006() -> None:
    websocket, peer = pair()
    peer.send_text("last words")
    peer.sock.close()
    assert websocket.receive() == "last words"
    assert websocket.receive() is None
    assert websocket.close_code == 1006
    websocket.release()


def test_initial_data_is_processed_first() -> None:
    server_sock, client_sock = socket.socketpair()
    early = encode_frame(Opcode.TEXT, b"early", mask=MASK)
    websocket = WebSocket(
        server_sock,
        Endpoint(ProtocolVersion.RFC_6455),
        ConnectionSettings(close_timeout=0.5),
        initial_data=early,
    )
    assert websocket.receive() == "early"
    Peer(client_sock).send_text("later")
    assert websocket.receive() == "later"
    websocket.release()
    client_sock.close()


def test_release_closes_without_a_peer_answer_within_close_timeout() -> None:
    """A peer that never answers our close frame costs at most close_timeout."""
    websocket, peer = pair(close_timeout=0.2)
    with gevent.Timeout(3):
        websocket.release()
    assert peer.read_events() == [Closed(1000, "", True)]


def test_a_reply_to_a_message_read_with_a_bad_frame_leaves_before_the_close() -> None:
    """Autobahn 3.x / 4.x strict: echo the good message, then fail with 1002."""
    websocket, peer = pair()
    peer.sock.sendall(encode_frame(Opcode.TEXT, b"good", mask=MASK) + b"\x83\x80" + MASK)
    message = websocket.receive()
    assert message == "good"
    websocket.send(message)
    assert websocket.receive() is None
    assert websocket.close_code == 1002
    websocket.release()
    events = []
    while not any(isinstance(event, Closed) for event in events):
        events += peer.read_events()
    assert events[0] == TextMessage("good")
    assert isinstance(events[-1], Closed) and events[-1].code == 1002


def test_overflow_never_blocks_the_broadcaster_on_a_full_socket() -> None:
    """The 1008 close frame of an overflowing peer is queued for its writer, not written by
    the broadcasting greenlet, even when the peer's kernel buffer is already full."""
    server_sock, client_sock = socket.socketpair()
    server_sock.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        while True:
            server_sock.send(b"\x00" * 65536)
    settings = ConnectionSettings(
        max_send_buffer=100_000, max_send_burst=100_000, close_timeout=0.5, send_timeout=30
    )
    websocket = WebSocket(server_sock, Endpoint(ProtocolVersion.RFC_6455), settings)
    frame = encode_frame(Opcode.BINARY, b"x" * 40_000)
    with gevent.Timeout(2):
        accepted = [websocket.send_prepared(frame) for _ in range(3)]
    assert accepted == [True, True, False]
    assert websocket.close_code == 1008
    websocket.release()
    client_sock.close()


def test_close_from_another_greenlet_returns_at_once_and_the_reader_sees_the_end() -> None:
    """An app closing some other client is not held up; that client's reader gets the answer."""
    websocket, peer = pair(close_timeout=1.0)
    reader = gevent.spawn(websocket.receive)
    gevent.sleep(0.05)
    with gevent.Timeout(0.2):
        websocket.close(4000, "bye")
    assert peer.read_events() == [Closed(4000, "bye", True)]
    peer.sock.sendall(peer.endpoint.data_to_send())
    assert reader.get(timeout=2) is None
    assert websocket.close_code == 4000
    websocket.release()


def test_close_from_another_greenlet_aborts_a_peer_that_never_answers() -> None:
    websocket, _peer = pair(close_timeout=0.3)
    reader = gevent.spawn(websocket.receive)
    gevent.sleep(0.05)
    websocket.close()
    assert reader.get(timeout=2) is None
    assert websocket.close_code == 1006
    websocket.release()


def test_an_idle_connection_keeps_no_greenlet() -> None:
    """The writer greenlet lives only while there is a backlog, and keepalive is a timer: an
    idle connection costs no greenlet (and its stack), even after it has sent."""

    def greenlets() -> int:
        gc.collect()
        return sum(isinstance(obj, greenlet.greenlet) for obj in gc.get_objects())

    gevent.sleep(0)  # the hub and the main greenlet exist before we count
    before = greenlets()
    pairs = [pair(ping_interval=0.05) for _ in range(20)]
    for websocket, _peer in pairs:
        assert websocket.send_nowait("written by a writer greenlet")
    for _websocket, peer in pairs:
        assert peer.read_events() == [TextMessage("written by a writer greenlet")]
    gevent.sleep(0.2)  # a few keepalive rounds
    assert greenlets() <= before
    for websocket, peer in pairs:
        peer.sock.close()
        websocket.release()


def test_a_waiting_read_arms_no_timer_and_a_stuck_write_still_times_out() -> None:
    """The socket has a timeout only while a write waits: an idle read costs no timer, and a
    peer that takes nothing is still dropped after ``send_timeout``."""

    def timeouts() -> int:
        gc.collect()
        return sum(isinstance(obj, gevent.Timeout) for obj in gc.get_objects())

    websocket, _peer = pair(send_timeout=0.5, max_send_buffer=64 << 20, max_send_burst=128 << 20)
    before = timeouts()
    reader = gevent.spawn(websocket.receive)
    gevent.sleep(0.05)
    assert timeouts() == before
    big = "x" * (1 << 20)
    with gevent.Timeout(10):
        while not websocket.closed:  # fills the kernel's buffers, then waits
            with contextlib.suppress(ConnectionClosed):
                websocket.send(big)
    assert reader.get(timeout=2) is None
    assert websocket.close_code == 1006
    websocket.release()


def test_a_read_that_fills_read_size_then_finds_nothing_waits_for_input() -> None:
    """A read that fills ``read_size`` is taken for a sign of more input, so the next one
    tries the socket without waiting first: finding it empty, it waits, then reads."""
    websocket, peer = pair(read_size=64)
    exact = "x" * 58  # a 64-byte frame: 2 header bytes, 4 of mask, 58 of payload
    peer.send_text(exact)
    assert websocket.receive() == exact
    reader = gevent.spawn(websocket.receive)
    gevent.sleep(0.05)
    assert not reader.ready()
    peer.send_text("later")
    assert reader.get(timeout=2) == "later"
    peer.sock.close()
    websocket.release()


def test_messages_the_socket_takes_in_part_arrive_whole_and_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A message sent with nothing queued is offered to the socket at once; what a small
    kernel buffer does not take is written after it, before the next message."""
    left: list[int] = []
    send_lone = WebSocket._send_lone

    def recording(self: WebSocket, data: bytes) -> bytes:
        rest = send_lone(self, data)
        left.append(len(rest))
        return rest

    monkeypatch.setattr(WebSocket, "_send_lone", recording)
    websocket, peer = pair()
    websocket._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    texts = [str(index) * 60_000 for index in range(4)]
    received: list[object] = []

    def read() -> None:
        while len(received) < len(texts):
            received.extend(peer.read_events())

    reader = gevent.spawn(read)
    with gevent.Timeout(10):
        for text in texts:
            websocket.send(text)
    reader.get(timeout=10)
    assert received == [TextMessage(text) for text in texts]
    assert websocket.bytes_sent == sum(len(text) + 4 for text in texts)
    assert any(0 < rest < 60_004 for rest in left)  # some message was taken in part
    peer.sock.close()
    websocket.release()


def test_every_attribute_of_a_connection_lives_in_its_slots() -> None:
    """Past 30 attributes CPython stops sharing an instance dict's keys, and each connection
    paid ~1.3 KB for a dict of its own; its attributes are slots instead, so an attribute
    that is not annotated (and so not a slot) shows up here."""
    websocket, peer = pair()
    websocket.send("x")
    assert TextMessage("x") in peer.read_events()
    peer.send_text("y")
    assert websocket.receive() == "y"
    assert vars(websocket) == {}
    peer.sock.close()
    websocket.release()
    assert vars(websocket) == {}
