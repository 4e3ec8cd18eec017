"""What counts against the send bounds, over real socket pairs: ``max_send_burst`` leaves out
the application's own sends and counts bytes held for a hixie-76 peer; a blocked write has one
``send_timeout`` deadline."""

from __future__ import annotations

import time

import gevent
from gevent import socket

from tests.connection.test_flusher import connected
from tests.connection.test_hixie76_key import KEY1, KEY2
from tests.connection.test_websocket import MASK, pair
from tests.servers import TIME_UNIT
from wsbackend.connection import ConnectionSettings, WebSocket
from wsbackend.protocol import BinaryMessage, Closed, Endpoint, Pong, ProtocolVersion
from wsbackend.protocol.handshake import HixieChallenge
from wsbackend.protocol.hixie import key_number
from wsbackend.protocol.hybi import Opcode, encode_frame


def test_a_large_send_in_progress_does_not_count_against_the_burst_bound() -> None:
    """A 1 MiB send waits for a peer that reads late; a ping answered meanwhile leaves 1 MiB
    queued, over ``max_send_burst`` (256 KiB), yet the peer is not dropped: the pong is what
    piled up besides the application's own data."""
    websocket, peer = pair(max_send_buffer=64 * 1024, max_send_burst=256 * 1024, send_timeout=10)
    payload = b"x" * (1 << 20)
    sender = gevent.spawn(websocket.send, payload)
    gevent.sleep(0.1)
    assert websocket.buffered_amount > 256 * 1024
    peer.sock.sendall(encode_frame(Opcode.PING, b"ping", mask=MASK))
    peer.sock.sendall(encode_frame(Opcode.TEXT, b"after", mask=MASK))
    with gevent.Timeout(10):
        assert websocket.receive() == "after"
    events: list[object] = []
    while Pong(b"ping") not in events and not any(isinstance(e, Closed) for e in events):
        events += peer.read_events(timeout=10)
    assert events == [BinaryMessage(payload), Pong(b"ping")]
    sender.get(timeout=10)
    assert not websocket.closed
    websocket.release()


def test_broadcasts_held_for_a_hixie76_key_count_against_the_burst_bound() -> None:
    """Before its key arrives, a hixie-76 peer's broadcasts are held in the endpoint: past
    ``max_send_burst`` it is cut off, as a peer whose socket does not drain is."""
    server_sock, client_sock = socket.socketpair()
    endpoint = Endpoint(
        ProtocolVersion.HIXIE_76, challenge=HixieChallenge(key_number(KEY1), key_number(KEY2))
    )
    settings = ConnectionSettings(
        max_send_buffer=10_000, max_send_burst=50_000, handshake_timeout=10, close_timeout=0.5
    )
    websocket = WebSocket(server_sock, endpoint, settings, peer="test")
    frame = b"\x00" + b"h" * 998 + b"\xff"
    taken = 0
    while taken < 1000 and websocket.send_prepared(frame):
        taken += 1
    assert taken * len(frame) <= 50_000
    assert websocket.closed and websocket.close_code == 1008
    client_sock.close()
    websocket.release()


def test_a_blocked_write_has_one_deadline() -> None:
    """The socket's buffer is full; the peer reads a little just before ``send_timeout`` and
    then nothing. The write ends one ``send_timeout`` after it began, not nearly two (a first
    ``send`` that waited for room, then a ``sendall`` with a deadline of its own)."""
    timeout = 1.0 * TIME_UNIT
    websocket, peer = pair(send_timeout=timeout, ping_interval=None)
    raw = websocket._sock
    raw.setblocking(False)
    try:
        while True:
            raw.send(b"f" * 65536)
    except BlockingIOError:
        pass
    raw.settimeout(timeout)

    def read_a_little() -> None:
        gevent.sleep(timeout * 0.75)
        peer.sock.recv(256 * 1024)

    reader = gevent.spawn(read_a_little)
    start = time.monotonic()
    websocket.send(b"y" * (4 << 20))
    elapsed = time.monotonic() - start
    reader.join()
    assert websocket.closed
    assert elapsed < timeout * 1.5
    peer.sock.close()
    websocket.release()


def test_a_cut_off_forgets_the_application_bytes_it_dropped() -> None:
    """A write of the application's is under way and another of its sends waits in the queue
    when broadcasts overflow it: the cut-off drops that send, and once the write is out no
    bytes count as the application's (fails before: the dropped send's bytes stayed counted,
    leaving that much more room under ``max_send_burst``)."""
    websocket, sock = connected(max_send_buffer=1000, max_send_burst=20_000, send_timeout=10)
    websocket._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    writer = gevent.spawn(websocket.send, b"w" * 50_000)  # blocks: nobody reads yet
    gevent.sleep(0.05)
    assert websocket._writing
    queued = gevent.spawn(websocket.send, b"q" * 1000)  # joins the queue, then waits
    gevent.sleep(0.05)
    frame = encode_frame(Opcode.TEXT, b"b" * 1000)
    with gevent.Timeout(10):
        while websocket.send_prepared(frame):
            pass
        assert websocket.close_code == 1008
        while websocket._writing or websocket._out:
            sock.recv(1 << 16)
    writer.join(timeout=10)
    queued.join(timeout=10)
    assert websocket._own == 0
    sock.close()
    websocket.release()
