"""The ceiling for anything on gevent: a raw StreamServer answering each frame with a canned one.

It answers the RFC 6455 handshake, then for each frame received sends a prebuilt unmasked frame
of the same opcode and payload length, never unmasking, validating or assembling anything. It
uses gevent's cheapest socket calls (one ``send`` before any ``sendall``, ``recv_into`` one
buffer, waiting for input before a read that would fail), the ones wsbackend uses: no WebSocket
server on gevent should beat it; it is not a WebSocket implementation.

Connections whose request path is ``/broadcast`` fan out instead: the canned replies to one
read's frames go out joined, in one non-blocking ``send`` on the real socket under gevent's
(``MSG_DONTWAIT``) to each other open ``/broadcast`` connection, from the reading greenlet
itself; only a peer whose socket is full gets a greenlet of its own that ``sendall``s what
piles up for it, in order. That is the least a gevent server can do per delivery (one system
call per peer and read, no queue, no greenlet switch, no framing work), the same calls as
wsbackend's flusher, so it is the ceiling for fan-out on gevent too.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import sys
from socket import MSG_DONTWAIT
from typing import Any

import gevent
from gevent import get_hub
from gevent.server import StreamServer
from gevent.socket import socket

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CLOSE = 0x8
canned: dict[tuple[int, int], bytes] = {}
fanout: dict[Any, socket] = {}
"""The open ``/broadcast`` connections: the real socket under gevent's, to gevent's."""
backlog: dict[Any, bytearray] = {}
"""What waits for the peers whose socket was full, by real socket, while their writer runs."""


def reply(opcode: int, length: int) -> bytes:
    frame = canned.get((opcode, length))
    if frame is None:
        if length < 126:
            header = bytes((0x80 | opcode, length))
        elif length < 1 << 16:
            header = bytes((0x80 | opcode, 126)) + length.to_bytes(2, "big")
        else:
            header = bytes((0x80 | opcode, 127)) + length.to_bytes(8, "big")
        frame = canned[opcode, length] = header + b"x" * length
    return frame


def handshake(sock: socket) -> tuple[bool, bytearray] | None:
    """Answers the upgrade; returns whether the request line asks for ``/broadcast`` and the
    bytes read past the request head."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk or len(head) > 16384:
            return None
        head += chunk
    head, rest = head.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    key = next(
        line.split(b":", 1)[1].strip()
        for line in lines
        if line.lower().startswith(b"sec-websocket-key:")
    )
    send(sock, upgrade_reply(key))
    return lines[0].startswith(b"GET /broadcast "), bytearray(rest)


def upgrade_reply(key: bytes) -> bytes:
    """The 101 response to an RFC 6455 request with ``Sec-WebSocket-Key: key``."""
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )


def serve(sock: socket, address: object) -> None:
    with contextlib.suppress(OSError):  # the client hung up
        answer(sock)


READ_SIZE = 1 << 18
READ_BUFFER = bytearray(READ_SIZE)
"""One buffer that every connection reads into and copies out of before it can switch: a
fresh ``recv`` result of this size would be allocated (and, past glibc's mmap threshold,
mapped and unmapped) on every read."""


def send(sock: socket, data: bytes) -> None:
    """One ``send``; gevent's ``sendall`` asks for SO_SNDBUF and the clock on every call."""
    sent = sock.send(data)
    if sent < len(data):
        sock.sendall(data[sent:])


def broadcast(own: Any, data: bytes) -> None:
    """One ``send`` that never waits to each other ``/broadcast`` connection."""
    for raw, peer in fanout.items():
        if raw is own:
            continue
        if raw in backlog:  # its writer is at work: after what it holds, in order
            backlog[raw] += data
            continue
        try:
            sent = raw.send(data, MSG_DONTWAIT)
        except BlockingIOError:
            sent = 0
        except OSError:
            continue  # the peer's own greenlet meets the error too, and ends
        if sent < len(data):
            backlog[raw] = bytearray(data[sent:])
            gevent.spawn(write_backlog, raw, peer)


def write_backlog(raw: Any, peer: socket) -> None:
    """The writer of a peer whose socket was full: waits for room, then ends."""
    try:
        while data := backlog[raw]:
            backlog[raw] = bytearray()
            peer.sendall(data)
    except OSError:
        pass
    finally:
        del backlog[raw]


def answer(sock: socket) -> None:
    shaken = handshake(sock)
    if shaken is not None:
        converse(sock, *shaken)


def converse(sock: socket, fans_out: bool, buffer: bytearray) -> None:
    """After the handshake: a canned reply to every frame (fanned out on ``/broadcast``)
    until a close frame or the end of the connection; ``buffer`` holds what came early."""
    own = sock._sock if fans_out else None
    if fans_out:
        fanout[own] = sock
    hub = get_hub()
    readable = hub.loop.io(sock.fileno(), 1)
    view = memoryview(READ_BUFFER)
    wait_first = False
    try:
        while True:
            out: list[bytes] = []
            start = 0
            while len(buffer) - start >= 2:
                opcode, length = buffer[start] & 0x0F, buffer[start + 1] & 0x7F
                header = 6
                if length == 126:
                    header, length = 8, int.from_bytes(buffer[start + 2 : start + 4], "big")
                elif length == 127:
                    header, length = 14, int.from_bytes(buffer[start + 2 : start + 10], "big")
                if len(buffer) - start < header + length:
                    break
                start += header + length
                if opcode == CLOSE:
                    if fans_out and out:  # the others get what came before it
                        broadcast(own, b"".join(out))
                        out = []
                    out.append(reply(CLOSE, 0))
                    send(sock, b"".join(out))
                    return
                out.append(reply(opcode, length))
            if out:
                if fans_out:
                    broadcast(own, b"".join(out))
                else:
                    send(sock, b"".join(out))
            del buffer[:start]
            # After a read that emptied the socket the peer has usually not spoken again yet:
            # waiting for input first saves gevent's recv that fails (EAGAIN) and its exception.
            if wait_first:
                hub.wait(readable)
            size = sock.recv_into(view)
            if not size:
                return
            wait_first = size < READ_SIZE
            buffer += view[:size]
    finally:
        readable.close()
        if fans_out:
            del fanout[own]


if __name__ == "__main__":
    StreamServer(("127.0.0.1", int(sys.argv[1])), serve, backlog=4096).serve_forever()
