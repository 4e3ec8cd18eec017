"""Framing of hybi-07, hybi-08 and RFC 6455 (base framing protocol, RFC 6455 §5).

The three share one frame format; they differ only in the handshake. :class:`FrameParser` reads
the complete frames out of whatever bytes arrived, up to a number per call, and checks each
header before its payload is buffered, so a frame that announces 2**63 bytes costs nothing.
"""

from __future__ import annotations

import binascii
import enum
import hashlib
import struct
import sys
from dataclasses import dataclass

from .codes import MAX_CLOSE_REASON_BYTES, CloseCode, is_sendable_close_code
from .errors import InvalidFrame, PayloadTooBig
from .masking import apply_mask
from .utf8 import decode_utf8

__all__ = [
    "CloseInfo",
    "Frame",
    "FrameParser",
    "Opcode",
    "accept_key",
    "encode_frame",
    "frame_header",
    "frame_unmasked",
]

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
"""RFC 6455 §1.3: the GUID appended to ``Sec-WebSocket-Key`` to form the accept key."""

MAX_CONTROL_PAYLOAD = 125
"""RFC 6455 §5.5: "All control frames MUST have a payload length of 125 bytes or less"."""

_FIN = 0x80
_RSV1 = 0x40
_RSV2_RSV3 = 0x30
_OPCODE = 0x0F
_MASKED = 0x80
_LENGTH = 0x7F
_LENGTH_16 = 126
_LENGTH_64 = 127
_LENGTH_16_END = 0x10000
"""Payloads from 126 bytes up to this (exclusive) have a 16-bit length, longer ones 64-bit."""
_PACK_16 = struct.Struct("!BBH")
_PACK_64 = struct.Struct("!BBQ")
_UNMASK_IN_PLACE = 4096
"""From this payload size on, unmask through a view of the bytes read instead of a sliced
copy: the view costs ~0.3 us more to make, the copy ~0.1 ms per MiB."""
_NO_STATUS_RCVD = int(CloseCode.NO_STATUS_RCVD)


class Opcode(enum.IntEnum):
    """RFC 6455 §5.2 opcodes; 0x3-0x7 and 0xB-0xF are reserved."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA

    @property
    def is_control(self) -> bool:
        """Control frames (close, ping, pong) have the high bit of the opcode set."""
        return self >= 0x8


_OPCODES = {int(opcode): opcode for opcode in Opcode}
# Enum members read once (see wsbackend.protocol): the per-frame checks compare against these.
_CONTINUATION, _CLOSE = Opcode.CONTINUATION, Opcode.CLOSE
_WHOLE_TEXT, _WHOLE_BINARY = _FIN | Opcode.TEXT, _FIN | Opcode.BINARY
_WHOLE_DATA_FRAMES = {_WHOLE_TEXT: Opcode.TEXT, _WHOLE_BINARY: Opcode.BINARY}
"""First bytes of a whole, uncompressed text or binary frame, which need no other check of
that byte: most frames are these, and :meth:`FrameParser._check_header` judges the rest."""


@dataclass(slots=True)
class Frame:
    """One frame, unmasked. ``rsv1`` marks a compressed message (RFC 7692 §6).

    Not frozen (see :mod:`wsbackend.protocol`): a frozen one cost four times as much to build,
    once per frame received.
    """

    opcode: Opcode
    payload: bytes
    fin: bool = True
    rsv1: bool = False


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value for a ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2)."""
    digest = hashlib.sha1(key.encode("ascii") + GUID).digest()
    return binascii.b2a_base64(digest, newline=False).decode("ascii")


def encode_frame(
    opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False, mask: bytes | None = None
) -> bytes:
    """Serialize one frame; ``mask`` (4 bytes) is for the client side only."""
    header = frame_header(opcode, len(payload), fin, rsv1, mask is not None)
    if mask is None:
        return header + payload
    return header + mask + apply_mask(payload, mask)


def frame_header(
    opcode: int, size: int, fin: bool = True, rsv1: bool = False, masked: bool = False
) -> bytes:
    """The header of a frame with a ``size``-byte payload, up to its mask key: what a
    transport writes before a large payload it sends as is, rather than copying it behind."""
    first = opcode | (_FIN if fin else 0) | (_RSV1 if rsv1 else 0)
    mask_bit = _MASKED if masked else 0
    if size < _LENGTH_16:
        return bytes((first, mask_bit | size))
    if size < _LENGTH_16_END:
        return _PACK_16.pack(first, mask_bit | _LENGTH_16, size)
    return _PACK_64.pack(first, mask_bit | _LENGTH_64, size)


_SHORT_HEADERS = {
    opcode: [frame_header(opcode, size) for size in range(_LENGTH_16)]
    for opcode in (Opcode.TEXT, Opcode.BINARY)
}
"""The 2-byte headers of whole, unmasked text and binary frames of up to 125 bytes, made once:
looking one up costs half of building it, on every small message sent."""
_SHORT_TEXT, _SHORT_BINARY = _SHORT_HEADERS[Opcode.TEXT], _SHORT_HEADERS[Opcode.BINARY]


def frame_unmasked(message: str | bytes) -> bytes:
    """The whole, unmasked, uncompressed frame of one message (text for str): what a server
    sends for most messages, framed without :func:`encode_frame`'s general arguments."""
    if isinstance(message, str):
        payload = message.encode("utf-8")
        size = len(payload)
        if size < _LENGTH_16:
            return _SHORT_TEXT[size] + payload
        first = _WHOLE_TEXT
    else:
        payload = message
        size = len(payload)
        if size < _LENGTH_16:
            return _SHORT_BINARY[size] + payload
        first = _WHOLE_BINARY
    # frame_header's length encoding, repeated: calling it (or a helper shared with it) costs
    # ~330 instructions more per message of 126 bytes or more (callgrind).
    if size < _LENGTH_16_END:
        return _PACK_16.pack(first, _LENGTH_16, size) + payload
    return _PACK_64.pack(first, _LENGTH_64, size) + payload


def close_payload(code: int, reason: str = "") -> bytes:
    """The payload of a close frame (RFC 6455 §5.5.1); 1005 is an empty payload. A reason over
    :data:`MAX_CLOSE_REASON_BYTES` is cut, at a character boundary."""
    if code == _NO_STATUS_RCVD:
        return b""
    if not reason:
        return code.to_bytes(2, "big")
    encoded = reason.encode("utf-8")
    if len(encoded) > MAX_CLOSE_REASON_BYTES:
        encoded = encoded[:MAX_CLOSE_REASON_BYTES].decode("utf-8", "ignore").encode("utf-8")
    return code.to_bytes(2, "big") + encoded


@dataclass(slots=True)
class CloseInfo:
    """The code and reason of a close frame (RFC 6455 §5.5.1).

    Not frozen, hence not hashable (equality holds), like :class:`Frame`: one is made per
    close frame received. Treat it as read only.
    """

    code: int
    reason: str = ""

    @classmethod
    def parse(cls, payload: bytes) -> CloseInfo:
        """Read a close frame's payload; an empty one means 1005 (no status received).

        Raises:
            InvalidFrame: A one-byte payload or a code that may not be on the wire (1002).
            InvalidPayload: A reason that is not UTF-8 (1007).
        """
        if not payload:
            return cls(CloseCode.NO_STATUS_RCVD)
        if len(payload) == 1:
            raise InvalidFrame("close frame with a one-byte payload")
        code = int.from_bytes(payload[:2], "big")
        if not is_sendable_close_code(code):
            raise InvalidFrame(f"close frame with invalid code {code}")
        return cls(code, decode_utf8(payload[2:], "close reason"))

    def serialize(self) -> bytes:
        """The close frame payload; 1005 serializes as an empty payload."""
        return close_payload(self.code, self.reason)


class FrameParser:
    """Turns a byte stream into frames, one call per read, however the bytes were split.

    Args:
        require_mask: True on the server: RFC 6455 §5.1 says a server MUST close the connection
            on an unmasked client frame; False on the client, where a masked frame is refused.
        allow_rsv1: True when permessage-deflate was negotiated.
        max_frame_size: Largest payload accepted; checked from the header alone.
    """

    __slots__ = (
        "_allow_rsv1",
        "_buffered",
        "_max_frame_size",
        "_needed",
        "_pending",
        "_require_mask",
        "_start",
    )

    def __init__(self, require_mask: bool, allow_rsv1: bool, max_frame_size: int) -> None:
        self._require_mask = require_mask
        self._allow_rsv1 = allow_rsv1
        self._max_frame_size = max_frame_size
        self._pending: list[bytes] = []
        self._buffered = 0
        self._needed = 0
        self._start = 0
        """Where the unparsed input starts in the first pending piece, once a call stopped at
        ``max_frames``: the rest of a large read is kept without copying it."""

    def feed(self, data: bytes, frames: list[Frame], max_frames: int = sys.maxsize) -> bool:
        """Append to ``frames`` the frames that ``data`` completes, until it holds
        ``max_frames``; return True if it stopped there with input left, which the next call,
        with more data or none, goes on with.

        A partial frame is kept; its pieces are joined once, when the last one arrives, so a
        large frame read in many pieces costs linear time.

        Raises:
            InvalidFrame: A frame breaking RFC 6455 §5 (1002). Frames before it are appended.
            PayloadTooBig: A frame over ``max_frame_size`` (1009).
        """
        pending = self._pending
        pos = 0
        if pending:
            if data:
                if self._start:
                    pending[0] = pending[0][self._start :]
                    self._start = 0
                pending.append(data)
                self._buffered += len(data)
            if self._buffered < self._needed:
                return False
            data = b"".join(pending) if len(pending) > 1 else pending[0]
            pending.clear()
            pos = self._start
            self._start = 0
        end = len(data)
        while pos < end:
            needed = self._parse_one(data, pos, end, frames)
            if needed >= 0:
                pending.append(data[pos:] if pos else data)
                self._buffered = end - pos
                self._needed = needed
                return False
            pos = -needed
            if len(frames) >= max_frames and pos < end:
                pending.append(data)
                self._start = pos
                self._buffered = end - pos
                self._needed = 0
                return True
        return False

    def lone_message(self, data: bytes) -> tuple[Opcode, bytes] | None:
        """The opcode and unmasked payload if ``data``, with nothing pending before it, is
        exactly one whole, uncompressed, masked text or binary frame of under 64 KiB; else
        None, and :meth:`feed` takes ``data``.

        What one read holds when the peer sends one message and waits for the answer: taken
        without a :class:`Frame` object and :meth:`feed`'s loop, ~0.6 µs of a message's ~1 µs
        of parsing. Headers that need any check besides the length go to :meth:`feed`.
        """
        size = len(data)
        if size < 6 or self._pending or not self._require_mask:
            return None
        opcode = _WHOLE_DATA_FRAMES.get(data[0])
        if opcode is None:
            return None
        length = data[1] ^ _MASKED  # a clear mask bit leaves it over 127: no match below
        if length < _LENGTH_16:
            start = 6
        elif length == _LENGTH_16 and size >= 8:
            length = (data[2] << 8) | data[3]
            start = 8
        else:
            return None
        if size != start + length or length > self._max_frame_size:
            return None
        return opcode, apply_mask(data[start:], data[start - 4 : start])

    def _parse_one(self, data: bytes, pos: int, end: int, frames: list[Frame]) -> int:
        """Parse the frame at ``pos``: return minus the next position if one was appended,
        else how many bytes from ``pos`` are needed before trying again."""
        available = end - pos
        if available < 2:
            return 2
        first = data[pos]
        second = data[pos + 1]
        length = second & _LENGTH
        header_size = 2
        if length == _LENGTH_16:
            header_size = 4
            if available < 4:
                return 4
            length = (data[pos + 2] << 8) | data[pos + 3]
        elif length == _LENGTH_64:
            header_size = 10
            if available < 10:
                return 10
            length = int.from_bytes(data[pos + 2 : pos + 10], "big")
        masked = second & _MASKED
        if masked:
            header_size += 4
        whole = _WHOLE_DATA_FRAMES.get(first)
        if (
            whole is not None
            and (masked != 0) is self._require_mask
            and length <= self._max_frame_size
        ):
            opcode = whole
        else:
            opcode = self._check_header(first, masked, length)
        frame_end = pos + header_size + length
        if frame_end > end:
            return header_size + length
        start = pos + header_size
        if not masked:
            payload = data[start:frame_end]
        elif length < _UNMASK_IN_PLACE:
            payload = apply_mask(data[start:frame_end], data[start - 4 : start])
        else:
            payload = apply_mask(memoryview(data)[start:frame_end], data[start - 4 : start])
        if whole is not None:
            frames.append(Frame(opcode, payload))
        else:
            frames.append(Frame(opcode, payload, bool(first & _FIN), bool(first & _RSV1)))
        return -frame_end

    def _check_header(self, first: int, masked: int, length: int) -> Opcode:
        """Apply RFC 6455 §5.2 and §5.5 to a frame header, before its payload arrives."""
        opcode = _OPCODES.get(first & _OPCODE)
        if opcode is None:
            raise InvalidFrame(f"reserved opcode {first & _OPCODE:#x}")
        if first & _RSV2_RSV3:
            raise InvalidFrame("RSV2 or RSV3 set without an extension that defines them")
        if first & _RSV1 and (not self._allow_rsv1 or opcode >= _CLOSE or opcode is _CONTINUATION):
            raise InvalidFrame("RSV1 set without permessage-deflate, or not on a first frame")
        if bool(masked) != self._require_mask:
            raise InvalidFrame("unmasked client frame" if self._require_mask else "masked frame")
        if opcode >= _CLOSE:
            if not first & _FIN:
                raise InvalidFrame(f"fragmented {opcode.name} frame")
            if length > MAX_CONTROL_PAYLOAD:
                raise InvalidFrame(f"{opcode.name} frame with {length} bytes of payload")
        if length > self._max_frame_size:
            if length >> 63:
                raise InvalidFrame("frame length with the most significant bit set")
            raise PayloadTooBig(f"frame of {length} bytes over the limit of {self._max_frame_size}")
        return opcode
