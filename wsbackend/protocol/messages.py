"""Assembly of hybi data frames into messages (RFC 6455 §5.4), with the message budget.

Text is validated frame by frame, so invalid UTF-8 fails the connection at the frame that carries
it, not when the message ends (RFC 6455 §8.1, "fail fast"). Compressed frames are inflated frame
by frame against the remaining budget. Fragments are appended to one buffer: a message sent as
millions of 1-byte fragments costs its size in memory, not an object per fragment.
"""

from __future__ import annotations

from .deflate import PerMessageDeflate
from .errors import InvalidFrame, PayloadTooBig
from .events import BinaryMessage, TextMessage
from .hybi import Frame, Opcode
from .utf8 import Utf8Decoder, decode_utf8

__all__ = ["MessageAssembler"]

# Enum members read once (see wsbackend.protocol).
_CONTINUATION, _TEXT = Opcode.CONTINUATION, Opcode.TEXT


def _inside_fragmented(opcode: Opcode) -> InvalidFrame:
    """RFC 6455 §5.4: a new message may not start before a fragmented one has finished."""
    return InvalidFrame(f"{opcode.name} frame inside a fragmented message")


class MessageAssembler:
    """Joins fragments into :class:`TextMessage` / :class:`BinaryMessage` events.

    Args:
        max_message_size: Largest message accepted, after decompression.
        deflate: The connection's permessage-deflate codec, if negotiated.
    """

    __slots__ = ("_buffer", "_compressed", "_decoder", "_deflate", "_max_message_size", "_opcode")

    def __init__(self, max_message_size: int, deflate: PerMessageDeflate | None) -> None:
        self._max_message_size = max_message_size
        self._deflate = deflate
        self._opcode: Opcode | None = None
        self._compressed = False
        self._buffer = bytearray()
        self._decoder: Utf8Decoder | None = None

    def process(self, frame: Frame) -> TextMessage | BinaryMessage | None:
        """Take one data frame; return the message it completes, if any.

        Raises:
            InvalidFrame: A continuation with no message started, or a new message before the
                previous one finished (1002).
            InvalidPayload: Invalid UTF-8 or corrupt compressed data (1007).
            PayloadTooBig: Over the message budget (1009).
        """
        opcode = frame.opcode
        if opcode is _CONTINUATION:
            if self._opcode is None:
                raise InvalidFrame("continuation frame without a message to continue")
            return self._continue(frame.payload, frame.fin)
        if not frame.fin:
            if self._opcode is not None:
                raise _inside_fragmented(opcode)
            self._start(opcode, frame.rsv1)
            return self._continue(frame.payload, False)
        return self.whole(opcode, frame.payload, frame.rsv1)

    def whole(
        self, opcode: Opcode, payload: bytes, compressed: bool = False
    ) -> TextMessage | BinaryMessage:
        """The message of one whole (unfragmented) text or binary frame, the common case:
        no decoder state, no joins.

        Raises:
            InvalidFrame: A message was started by fragments and not finished (1002).
            InvalidPayload: As :meth:`process`.
            PayloadTooBig: As :meth:`process`.
        """
        if self._opcode is not None:
            raise _inside_fragmented(opcode)
        if compressed:
            assert self._deflate is not None
            payload = self._deflate.decompress(payload, self._max_message_size, True)
        elif len(payload) > self._max_message_size:
            raise PayloadTooBig(f"message of {len(payload)} bytes over the size limit")
        if opcode is not _TEXT:
            return BinaryMessage(payload)
        try:
            return TextMessage(payload.decode("utf-8"))
        except UnicodeDecodeError:
            return TextMessage(decode_utf8(payload))  # raises, naming the bad byte

    def _start(self, opcode: Opcode, compressed: bool) -> None:
        self._opcode = opcode
        self._compressed = compressed
        self._decoder = Utf8Decoder() if opcode is Opcode.TEXT else None

    def _continue(self, payload: bytes, fin: bool) -> TextMessage | BinaryMessage | None:
        buffer = self._buffer
        budget = self._max_message_size - len(buffer)
        if self._compressed:
            assert self._deflate is not None
            payload = self._deflate.decompress(payload, budget, fin)
        elif len(payload) > budget:
            raise PayloadTooBig("message over the size limit")
        decoder = self._decoder
        if decoder is not None:
            decoder.decode(payload, fin)  # validates the fragment (fail fast); str made at the end
        buffer += payload
        if not fin:
            return None
        self._opcode = None
        self._buffer = bytearray()
        if decoder is not None:
            return TextMessage(buffer.decode("utf-8"))
        return BinaryMessage(bytes(buffer))
