"""The ceiling for anything on gevent: a raw StreamServer answering each frame with a canned one.

It answers the RFC 6455 handshake, then for each frame received sends a prebuilt unmasked frame
of the same opcode and payload length, never unmasking, validating or assembling anything. It
uses gevent's cheapest socket calls (one ``send`` before any ``sendall``, ``recv_into`` one
buffer, waiting for input before a read that would fail), the ones wsbackend uses: no WebSocket
server on gevent should beat it; it is not a WebSocket implementation.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import sys

from gevent import get_hub
from gevent.server import StreamServer
from gevent.socket import socket

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CLOSE = 0x8
canned: dict[tuple[int, int], bytes] = {}


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


def handshake(sock: socket) -> bytearray | None:
    """Answers the upgrade; returns the bytes read past the request head."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk or len(head) > 16384:
            return None
        head += chunk
    head, rest = head.split(b"\r\n\r\n", 1)
    key = next(
        line.split(b":", 1)[1].strip()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    sock.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    return bytearray(rest)


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


def answer(sock: socket) -> None:
    buffer = handshake(sock)
    if buffer is None:
        return
    hub = get_hub()
    readable = hub.loop.io(sock.fileno(), 1)
    view = memoryview(READ_BUFFER)
    wait_first = False
    try:
        while True:
            out = []
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
                out.append(reply(opcode, 0 if opcode == CLOSE else length))
                if opcode == CLOSE:
                    send(sock, b"".join(out))
                    return
            if out:
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


if __name__ == "__main__":
    StreamServer(("127.0.0.1", int(sys.argv[1])), serve, backlog=4096).serve_forever()
