"""A deliberately plain client for the versions no maintained library speaks any more.

hixie-75, hixie-76 and hybi-07 are written here from the drafts, independently of
``wsbackend.protocol``, so that the server is not tested against its own reading of the specs.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import socket
import ssl
import struct
from dataclasses import dataclass

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# draft-hixie-thewebsocketprotocol-76 §1.3's worked example.
HIXIE76_KEY1 = "18x 6]8vM;54 *(5:  {   U1]8  z [  8"
HIXIE76_KEY2 = "1_ tx7X d  <  nw  334J702) 7]o}` 0"
HIXIE76_KEY3 = b"Tm[K T2u"
HIXIE76_ANSWER = b"fQJ,fN/4F4!~K~MH"

UPGRADE = ["Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade"]
KEY = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
"""RFC 6455 §1.3's sample key, for request heads written line by line."""


def hixie76_head(path: str = "/ws", protocol: str | None = None) -> list[str]:
    """The lines of a hixie-76 request head with the draft's example keys (the 8 key bytes,
    ``HIXIE76_KEY3``, follow the head)."""
    lines = [
        f"GET {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key2: {HIXIE76_KEY2}",
        "Upgrade: WebSocket",
        f"Sec-WebSocket-Key1: {HIXIE76_KEY1}",
        "Origin: http://127.0.0.1",
    ]
    if protocol:
        lines.append(f"Sec-WebSocket-Protocol: {protocol}")
    return lines


def echo_works(port: int, timeout: float = 10.0) -> bool:
    """Whether a new RFC 6455 client gets its message echoed: the server still serves."""
    client = RawClient(port, timeout=timeout)
    try:
        if client.hybi_handshake(13).status != 101:
            return False
        client.send_frame(0x1, b"still here")
        return client.read_message() == (0x1, b"still here")
    finally:
        client.close()


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes = b""


class RawClient:
    """One TCP connection speaking whatever bytes a test writes."""

    def __init__(self, port: int, timeout: float = 10.0, tls: ssl.SSLContext | None = None) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = tls.wrap_socket(sock, server_hostname="127.0.0.1") if tls else sock
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed by the server")
        self.buffer += chunk

    def read_exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            self._fill()
        data, _, self.buffer = self.buffer.partition(marker)
        return data + marker

    def at_eof(self, timeout: float = 5.0) -> bool:
        """True if the server closes the connection within ``timeout`` (data is discarded)."""
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(65536):
                pass
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
        return True

    def read_to_eof(self, timeout: float = 5.0) -> bytes:
        """Everything left, up to the server's close (a reset counts as one); what was read
        past the last response included."""
        rest, self.buffer = self.buffer, b""
        self.sock.settimeout(timeout)
        with contextlib.suppress(ConnectionResetError):
            while chunk := self.sock.recv(65536):
                rest += chunk
        return rest

    def read_response(self) -> Response:
        head = self.read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        _, status, reason = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = b""
        if "content-length" in headers:
            body = self.read_exact(int(headers["content-length"]))
        return Response(int(status), reason, headers, body)

    # -- opening handshakes ----------------------------------------------------------------------

    def request(self, lines: list[str], body: bytes = b"") -> None:
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def hybi_handshake(
        self,
        version: int,
        path: str = "/ws",
        protocols: str | None = None,
        extra: list[str] | None = None,
    ) -> Response:
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            "Host: 127.0.0.1",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            f"Sec-WebSocket-Version: {version}",
            ("Origin" if version == 13 else "Sec-WebSocket-Origin") + ": http://127.0.0.1",
        ]
        if protocols:
            lines.append(f"Sec-WebSocket-Protocol: {protocols}")
        self.request(lines + (extra or []))
        response = self.read_response()
        if response.status == 101:
            expected = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
            assert response.headers["sec-websocket-accept"] == expected
        return response

    def hixie75_handshake(self, path: str = "/ws", protocol: str | None = None) -> Response:
        lines = [
            f"GET {path} HTTP/1.1",
            "Upgrade: WebSocket",
            "Connection: Upgrade",
            "Host: 127.0.0.1",
            "Origin: http://127.0.0.1",
        ]
        if protocol:
            lines.append(f"WebSocket-Protocol: {protocol}")
        self.request(lines)
        return self.read_response()

    def hixie76_handshake(
        self, path: str = "/ws", protocol: str | None = None, key3_after_reply: bool = False
    ) -> Response:
        """The draft's example keys; with ``key3_after_reply`` the 8 key bytes are held back
        until the 101 head arrives, as reverse proxies do."""
        lines = hixie76_head(path, protocol)
        if key3_after_reply:
            self.request(lines)
            response = self.read_response()
            self.send(HIXIE76_KEY3)
        else:
            self.request(lines, HIXIE76_KEY3)
            response = self.read_response()
        if response.status == 101:
            response.body = self.read_exact(16)
        return response

    # -- hixie framing ---------------------------------------------------------------------------

    def send_hixie_text(self, text: str) -> None:
        self.send(b"\x00" + text.encode() + b"\xff")

    def read_hixie_text(self) -> str:
        frame_type = self.read_exact(1)
        assert frame_type == b"\x00", frame_type
        return self.read_until(b"\xff")[:-1].decode()

    # -- hybi framing ----------------------------------------------------------------------------

    def send_frame(
        self, opcode: int, payload: bytes, fin: bool = True, mask: bool = True, rsv: int = 0
    ) -> None:
        first = (0x80 if fin else 0) | rsv | opcode
        size = len(payload)
        mask_bit = 0x80 if mask else 0
        if size < 126:
            header = struct.pack("!BB", first, mask_bit | size)
        elif size < 65536:
            header = struct.pack("!BBH", first, mask_bit | 126, size)
        else:
            header = struct.pack("!BBQ", first, mask_bit | 127, size)
        if mask:
            key = os.urandom(4)
            payload = bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))
            header += key
        self.send(header + payload)

    def read_frame(self) -> tuple[bool, int, bytes]:
        first, second = self.read_exact(2)
        assert not second & 0x80, "server frames are never masked"
        size = second & 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", self.read_exact(2))
        elif size == 127:
            (size,) = struct.unpack("!Q", self.read_exact(8))
        return bool(first & 0x80), first & 0x0F, self.read_exact(size)

    def read_message(self) -> tuple[int, bytes]:
        """A whole data message, skipping pings and pongs."""
        parts: list[bytes] = []
        opcode = None
        while True:
            fin, frame_opcode, payload = self.read_frame()
            if frame_opcode in (0x9, 0xA):
                continue
            if frame_opcode == 0x8:
                return 0x8, payload
            opcode = frame_opcode if opcode is None else opcode
            parts.append(payload)
            if fin:
                return opcode, b"".join(parts)

    def close_handshake(self, code: int = 1000) -> int:
        """Send a close frame; return the code the server echoed."""
        self.send_frame(0x8, struct.pack("!H", code))
        opcode, payload = self.read_message()
        assert opcode == 0x8
        return int(struct.unpack("!H", payload[:2])[0]) if payload else 1005
