"""Broadcast writes (wsbackend/connection/flushing.py and writing.py): one greenlet writes what a
broadcast queued for many peers, and a peer whose socket is full gets a writer of its own."""

from __future__ import annotations

import contextlib
import gc

import gevent
import gevent.event
import greenlet
from gevent import socket, ssl

from tests.servers import TIME_UNIT
from wsbackend.connection import ConnectionSettings, WebSocket
from wsbackend.protocol import Endpoint, ProtocolVersion, Side, TextMessage
from wsbackend.protocol.hybi import Opcode, encode_frame


def connected(**settings: object) -> tuple[WebSocket, socket.socket]:
    server_sock, client_sock = socket.socketpair()
    options: dict[str, object] = {"close_timeout": 0.5, "ping_interval": None, **settings}
    websocket = WebSocket(
        server_sock,
        Endpoint(ProtocolVersion.RFC_6455),
        ConnectionSettings(**options),  # type: ignore[arg-type]
    )
    return websocket, client_sock


def texts(sock: socket.socket, count: int) -> list[str]:
    client = Endpoint(ProtocolVersion.RFC_6455, Side.CLIENT)
    found: list[str] = []
    with gevent.Timeout(10 * TIME_UNIT):
        while len(found) < count:
            client.receive_data(sock.recv(1 << 16))
            found += [e.data for e in client.events_received() if isinstance(e, TextMessage)]
    return found


def greenlets() -> int:
    gc.collect()
    return sum(isinstance(obj, greenlet.greenlet) for obj in gc.get_objects())


def test_a_broadcast_to_many_peers_starts_one_greenlet_and_joins_a_burst() -> None:
    """Fails before the flusher: a writer greenlet per peer (50 here)."""
    pairs = [connected() for _ in range(50)]
    frames = [encode_frame(Opcode.TEXT, f"message {n}".encode()) for n in range(3)]
    gevent.sleep(0)
    before = greenlets()
    for frame in frames:
        assert all(websocket.send_prepared(frame) for websocket, _ in pairs)
    assert greenlets() - before == 1
    for _, sock in pairs:
        assert texts(sock, 3) == ["message 0", "message 1", "message 2"]
    for websocket, sock in pairs:
        assert websocket.bytes_sent == sum(len(frame) for frame in frames)
        sock.close()
        websocket.release()


def test_a_peer_whose_socket_is_full_holds_up_nobody() -> None:
    stuck, stuck_peer = connected(send_timeout=30)
    stuck._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    readers = [connected() for _ in range(5)]
    frame = encode_frame(Opcode.TEXT, b"x" * 50_000)
    for _ in range(20):  # 1 MB: far more than the stuck peer's buffers take
        assert stuck.send_prepared(frame)
        for websocket, _ in readers:
            assert websocket.send_prepared(frame)
    for _, sock in readers:
        assert len(texts(sock, 20)) == 20
    assert stuck.buffered_amount > 0
    assert isinstance(stuck._writer, gevent.Greenlet)  # the rest is its own writer's job
    for websocket, sock in [*readers, (stuck, stuck_peer)]:
        sock.close()
        websocket.release()


def test_release_while_waiting_for_the_flusher_returns() -> None:
    websocket, sock = connected()
    assert websocket.send_nowait("last words")
    with gevent.Timeout(5 * TIME_UNIT):
        websocket.release()
    with contextlib.suppress(OSError):
        assert texts(sock, 1) == ["last words"]
    sock.close()


class FullTlsSocket:
    """A TLS socket with no room until ``room`` is set: at timeout 0 its ``send`` raises
    SSLWantWriteError, as gevent's SSLSocket does, and otherwise waits."""

    def __init__(self) -> None:
        self.timeout: float | None = None
        self.room = gevent.event.Event()
        self.written: list[bytes] = []

    def settimeout(self, timeout: float | None) -> None:
        self.timeout = timeout

    def setsockopt(self, *args: object) -> None:
        pass

    def send(self, data: bytes) -> int:
        if not self.room.is_set():
            if self.timeout == 0.0:
                raise ssl.SSLWantWriteError("The operation did not complete (write)")
            self.room.wait()
        self.written.append(bytes(data))
        return len(data)

    def sendall(self, data: bytes) -> None:
        self.send(data)

    def recv(self, size: int) -> bytes:
        return b""

    def shutdown(self, how: int) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_full_tls_socket_is_left_to_its_writer_not_dropped() -> None:
    """Over TLS a full socket says SSLWantWriteError, not BlockingIOError (fails before:
    the peer was dropped as if the write had failed)."""
    sock = FullTlsSocket()
    settings = ConnectionSettings(close_timeout=0.5, ping_interval=None)
    websocket = WebSocket(sock, Endpoint(ProtocolVersion.RFC_6455), settings)
    frame = encode_frame(Opcode.TEXT, b"waits for room")
    assert websocket.send_prepared(frame)
    gevent.sleep(0.05)  # the flusher's visit finds no room
    assert websocket.close_code is None
    assert isinstance(websocket._writer, gevent.Greenlet)
    sock.room.set()
    gevent.sleep(0.05)
    assert sock.written == [frame]
    websocket.release()


def test_a_connection_waiting_for_the_flusher_has_no_writer() -> None:
    """Waiting for the flusher is a flag of its own: ``_writer`` is a greenlet or None (fails
    before: it held the flusher itself, a stand-in with a ``kill`` that did nothing)."""
    websocket, sock = connected()
    assert websocket.send_prepared(encode_frame(Opcode.TEXT, b"soon"))
    assert websocket._flush_due and websocket._writer is None
    gevent.sleep(0)
    assert not websocket._flush_due and websocket._writer is None
    assert texts(sock, 1) == ["soon"]
    sock.close()
    websocket.release()


def test_replies_sent_while_received_messages_wait_go_through_the_flusher_in_order() -> None:
    """One read brings six messages; each reply is sent while the rest still wait to be
    handled, so it is queued for the flusher (no write in the handler's greenlet, no writer
    greenlet of its own), and all arrive whole and in order, large and small alike."""
    websocket, sock = connected()
    count = 6
    mask = b"\x01\x02\x03\x04"
    sock.sendall(
        b"".join(encode_frame(Opcode.TEXT, str(n).encode(), mask=mask) for n in range(count))
    )
    gevent.sleep(0)
    before = greenlets()
    replies = []
    for n in range(count):
        message = websocket.receive()
        assert isinstance(message, str)
        reply = f"{message}:" + "y" * (n * 3000)
        websocket.send(reply)
        replies.append(reply)
        assert websocket._flush_due and websocket.bytes_sent == 0
    assert greenlets() - before <= 1
    assert texts(sock, count) == replies
    assert websocket.bytes_sent == sum(len(encode_frame(Opcode.TEXT, r.encode())) for r in replies)
    sock.close()
    websocket.release()
