"""The drafts before hybi: hixie-75 and hixie-76 (a.k.a. hybi-00).

Both frame text as ``0x00 <UTF-8> 0xFF``. A frame type with the high bit set carries a length
instead and is read and discarded, except ``0xFF 0x00``, which hixie-76 defines as the closing
handshake (draft-hixie-thewebsocketprotocol-76 §5.3). hixie-76 adds a challenge: the server
answers ``Sec-WebSocket-Key1``/``Key2`` and the 8 bytes after the request head with 16 bytes.
"""

from __future__ import annotations

import hashlib
import struct
import sys
from dataclasses import dataclass

from .errors import BadRequest, PayloadTooBig
from .utf8 import decode_utf8

__all__ = [
    "CLOSING_FRAME",
    "KEY3_SIZE",
    "HixieClosingFrame",
    "HixieFrameParser",
    "challenge_response",
    "encode_text",
    "key_number",
]

CLOSING_FRAME = b"\xff\x00"
KEY3_SIZE = 8
"""The request body hixie-76 clients send after the head, without a Content-Length."""
_MAX_KEY_DIGITS = 20
"""A 32-bit number times at most 12 spaces fits in 11 digits; the cap keeps ``int()`` cheap
and under Python's limit on digits (which raises ValueError)."""
_TEXT_FRAME_TYPE = 0x00
_END_OF_TEXT = 0xFF
_LENGTH_FRAME_BIT = 0x80


def key_number(key: str) -> int:
    """The number hidden in a ``Sec-WebSocket-Key1``/``Key2`` value (draft-76 §5.2 step 4).

    Raises:
        BadRequest: No spaces, a quotient that is not an integer, or over 32 bits.
    """
    digits = "".join(char for char in key if "0" <= char <= "9")
    spaces = key.count(" ")
    if not digits or spaces == 0 or len(digits) > _MAX_KEY_DIGITS:
        raise BadRequest("hixie-76 key without digits or spaces, or with too many digits")
    number, remainder = divmod(int(digits), spaces)
    if remainder or number > 0xFFFFFFFF:
        raise BadRequest("hixie-76 key that does not divide into a 32-bit number")
    return number


def challenge_response(number1: int, number2: int, key3: bytes) -> bytes:
    """The 16-byte answer to the hixie-76 challenge (draft-76 §5.2 steps 5-7)."""
    return hashlib.md5(struct.pack(">II", number1, number2) + key3).digest()


def encode_text(text: str) -> bytes:
    """A hixie text frame; UTF-8 never contains 0xFF, so no escaping is needed."""
    return b"\x00" + text.encode("utf-8") + b"\xff"


@dataclass(frozen=True, slots=True)
class HixieClosingFrame:
    """The ``0xFF 0x00`` frame that starts or answers hixie-76's closing handshake."""


class HixieFrameParser:
    """Reads hixie frames out of a byte stream, one call per read.

    Yields ``str`` for each text frame and :class:`HixieClosingFrame` for ``0xFF 0x00``.

    Args:
        max_message_size: Longest text frame or discarded length-prefixed frame accepted.
    """

    __slots__ = ("_buffer", "_max_message_size", "_scanned", "_skip")

    def __init__(self, max_message_size: int) -> None:
        self._max_message_size = max_message_size
        self._buffer = bytearray()
        self._skip = 0
        self._scanned = 1
        """How far into an unfinished text frame the search for its end has looked: each byte
        is scanned once, however slowly the frame arrives."""

    def feed(
        self, data: bytes, out: list[str | HixieClosingFrame], max_frames: int = sys.maxsize
    ) -> bool:
        """Append to ``out`` the frames ``data`` completes, at most ``max_frames``; return True
        if it stopped there with input left, which the next call, with more data or none,
        goes on with.

        Raises:
            InvalidPayload: A text frame that is not UTF-8.
            PayloadTooBig: A frame over ``max_message_size``.
        """
        buffer = self._buffer
        buffer += data
        pos = 0
        frames = 0
        stopped = False
        while pos < len(buffer):
            if frames == max_frames:
                stopped = True
                break
            if self._skip:
                skipped = min(self._skip, len(buffer) - pos)
                self._skip -= skipped
                pos += skipped
                continue
            frame_type = buffer[pos]
            if frame_type & _LENGTH_FRAME_BIT:
                consumed = self._read_length_frame(buffer, pos, frame_type, out)
            else:
                consumed = self._read_text_frame(buffer, pos, frame_type, out)
            if consumed == 0:
                break
            pos += consumed
            frames += 1
        del buffer[:pos]
        return stopped

    def _read_text_frame(
        self, buffer: bytearray, pos: int, frame_type: int, out: list[str | HixieClosingFrame]
    ) -> int:
        end = buffer.find(_END_OF_TEXT, pos + self._scanned)
        if end == -1:
            self._scanned = len(buffer) - pos
            if self._scanned - 1 > self._max_message_size:
                raise PayloadTooBig("hixie text frame over the size limit")
            return 0
        self._scanned = 1
        if end - pos - 1 > self._max_message_size:
            raise PayloadTooBig("hixie text frame over the size limit")
        if frame_type == _TEXT_FRAME_TYPE:
            out.append(decode_utf8(bytes(buffer[pos + 1 : end])))
        return end + 1 - pos

    def _read_length_frame(
        self, buffer: bytearray, pos: int, frame_type: int, out: list[str | HixieClosingFrame]
    ) -> int:
        length = 0
        index = pos + 1
        while True:
            if index >= len(buffer):
                return 0
            byte = buffer[index]
            index += 1
            length = length * 128 + (byte & 0x7F)
            if length > self._max_message_size:
                raise PayloadTooBig("hixie length-prefixed frame over the size limit")
            if not byte & 0x80:
                break
        if frame_type == 0xFF and length == 0:
            out.append(HixieClosingFrame())
        self._skip = length
        return index - pos
