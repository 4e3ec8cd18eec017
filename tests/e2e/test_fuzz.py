"""Garbage at a running worker: mutated handshakes of every version, and valid handshakes
followed by random or mangled frames, each cut into random chunks. Throughout, a well-behaved
client keeps its echo going and new clients are served; no input produces a 500 or a
traceback. Seeded, so a failure can be replayed."""

from __future__ import annotations

import os
import random
import select
import socket
import struct
import time
from pathlib import Path

from tests.e2e.rawclient import HIXIE76_KEY1, HIXIE76_KEY2, HIXIE76_KEY3, RawClient, echo_works
from tests.servers import TIME_UNIT, free_port, running, wsbackend_serve

SEED = int(os.environ.get("WSBACKEND_FUZZ_SEED", "20261125"))
BATCHES = 8
BATCH_SIZE = 20

HEADS = {
    "rfc6455": (
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Protocol: echo\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
    ),
    "hybi08": (
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n"
        b"Sec-WebSocket-Origin: http://127.0.0.1\r\n\r\n"
    ),
    "hybi07": (
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 7\r\n\r\n"
    ),
    "hixie76": (
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n"
        f"Sec-WebSocket-Key1: {HIXIE76_KEY1}\r\nSec-WebSocket-Key2: {HIXIE76_KEY2}\r\n"
        "Sec-WebSocket-Protocol: echo\r\n\r\n"
    ).encode()
    + HIXIE76_KEY3,
    "hixie75": (
        b"GET /ws HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nHost: 127.0.0.1\r\n"
        b"Origin: http://127.0.0.1\r\nWebSocket-Protocol: echo\r\n\r\n"
    ),
}
NASTY = [b"\x00", b"\r", b"\n", b"\r\n", b" ", b"\t", b":", b",", b";", b'"', b"\xb2", b"\xff"]


def mutate(rng: random.Random, data: bytes) -> bytes:
    """A few random edits: bytes replaced, inserted, deleted, lines repeated."""
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        at = rng.randrange(len(buffer) + 1)
        choice = rng.random()
        if choice < 0.3 and at < len(buffer):
            buffer[at] = rng.randrange(256)
        elif choice < 0.6:
            buffer[at:at] = rng.choice(NASTY)
        elif choice < 0.8:
            del buffer[at : at + rng.randint(1, 8)]
        else:
            buffer[at:at] = rng.choice(data.split(b"\r\n")[1:-2] or [b"X: y"]) + b"\r\n"
    return bytes(buffer)


def hybi_frame(rng: random.Random) -> bytes:
    """A masked frame with random opcode, flags, length encoding and payload."""
    payload = rng.randbytes(rng.choice([0, 1, 2, 5, 125, 126, 300]))
    first = rng.choice([0x80, 0x00, 0xC0, 0xA0, 0x90]) | rng.choice([0, 1, 2, 3, 8, 9, 10, 11])
    size = len(payload)
    if size < 126 and rng.random() < 0.8:
        header = struct.pack("!BB", first, 0x80 | size)
    elif rng.random() < 0.5:
        header = struct.pack("!BBH", first, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, rng.choice([size, size, 2**63 + size]))
    key = rng.randbytes(4)
    return header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def case(rng: random.Random) -> bytes:
    """One connection's worth of hostile bytes."""
    version = rng.choice(list(HEADS))
    head = HEADS[version]
    kind = rng.random()
    if kind < 0.45:
        return mutate(rng, head)
    if kind < 0.55:
        return rng.randbytes(rng.randint(1, 400))
    if version.startswith("hixie"):
        frames = [rng.choice([b"\x00hi\xff", b"\x00\xc3\x28\xff", b"\x80\x05hello", b"\xff\x00",
                              b"\x81\xff\xff\xff\xff\x7f", rng.randbytes(20)])
                  for _ in range(rng.randint(1, 5))]  # fmt: skip
    else:
        frames = [hybi_frame(rng) for _ in range(rng.randint(1, 5))]
        if rng.random() < 0.3:
            frames.append(mutate(rng, frames[-1]))
    return head + b"".join(frames)


def send_in_chunks(rng: random.Random, sock: socket.socket, data: bytes) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    position = 0
    while position < len(data):
        size = rng.choice([1, 2, 3, 7, 64, len(data)])
        try:
            sock.sendall(data[position : position + size])
        except OSError:
            return
        position += size
        if rng.random() < 0.3:
            time.sleep(0.002)


def statuses(sockets: list[socket.socket], wait: float) -> list[int]:
    """The HTTP status of each reply that arrived within ``wait`` seconds."""
    received = {sock: b"" for sock in sockets}
    open_ = list(sockets)
    end = time.monotonic() + wait
    while open_ and time.monotonic() < end:
        readable, _, _ = select.select(open_, [], [], max(0.0, end - time.monotonic()))
        for sock in readable:
            try:
                chunk = sock.recv(65536)
            except OSError:
                chunk = b""
            received[sock] += chunk
            if not chunk or b"\r\n" in received[sock]:
                open_.remove(sock)
    return [
        int(reply.split(b" ", 2)[1])
        for reply in received.values()
        if reply.startswith(b"HTTP/1.1 ") and reply[9:12].isdigit()
    ]


def test_worker_survives_garbage_and_keeps_serving(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    port = free_port()
    log = tmp_path / "serve.log"
    seen: list[int] = []
    with running(wsbackend_serve(port, "e2e_site:application"), port, log):
        steady = RawClient(port)
        assert steady.hybi_handshake(13, protocols="echo").status == 101
        for batch in range(BATCHES):
            sockets = []
            for _ in range(BATCH_SIZE):
                sock = socket.create_connection(("127.0.0.1", port), timeout=5 * TIME_UNIT)
                send_in_chunks(rng, sock, case(rng))
                sockets.append(sock)
            seen += statuses(sockets, 1.5 * TIME_UNIT)
            for sock in sockets:
                sock.close()
            steady.send_frame(0x1, f"batch {batch}".encode())
            assert steady.read_message() == (0x1, f"batch {batch}".encode())
            assert echo_works(port)
        assert steady.close_handshake() == 1000
        steady.close()
    text = log.read_text()
    assert "Traceback" not in text, f"seed {SEED}"
    assert all(status < 500 for status in seen), (SEED, sorted(set(seen)))
    assert {101, 400} <= set(seen), sorted(set(seen))
