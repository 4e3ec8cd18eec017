"""The ceiling for anything on gevent: a raw StreamServer answering each frame with a canned one.

It answers the RFC 6455 handshake, then for each frame received sends a prebuilt unmasked frame
of the same opcode and payload length, never unmasking, validating or assembling anything. No
WebSocket server on gevent can beat it; it is not a WebSocket implementation.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import sys

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


def answer(sock: socket) -> None:
    buffer = handshake(sock)
    if buffer is None:
        return
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
                sock.sendall(b"".join(out))
                return
        if out:
            sock.sendall(b"".join(out))
        del buffer[:start]
        chunk = sock.recv(1 << 20)
        if not chunk:
            return
        buffer += chunk


if __name__ == "__main__":
    StreamServer(("127.0.0.1", int(sys.argv[1])), serve, backlog=4096).serve_forever()
