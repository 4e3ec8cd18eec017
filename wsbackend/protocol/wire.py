"""A message framed once for every connection that shares a wire format.

A broadcast to a thousand clients should not build a thousand frames. Server frames are never
masked, so every hybi / RFC 6455 connection without compression takes the same bytes, every
hixie connection takes the same bytes, and compressed connections that reset their compressor
for each message (``server_no_context_takeover``) share bytes per compression setting.
Connections that keep their compression context cannot share: their endpoint frames for them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .deflate import SharedDeflate
from .hixie import encode_text as encode_hixie_text
from .hybi import Opcode, encode_frame

__all__ = ["HIXIE", "HYBI", "WireFormat", "encode_message"]


@dataclass(frozen=True, slots=True)
class WireFormat:
    """Connections with equal formats take byte-identical frames for the same message.

    Attributes:
        hixie: hixie-75/76 framing (0x00 text 0xFF; no binary).
        deflate: The shared compression settings, for compressed hybi connections.
    """

    hixie: bool
    deflate: SharedDeflate | None = None


HIXIE = WireFormat(hixie=True)
HYBI = WireFormat(hixie=False)


def encode_message(message: str | bytes, wire_format: WireFormat) -> bytes | None:
    """The frame(s) for one whole message; None for binary to hixie, which cannot carry it."""
    if wire_format.hixie:
        return encode_hixie_text(message) if isinstance(message, str) else None
    if isinstance(message, str):
        opcode, payload = Opcode.TEXT, message.encode("utf-8")
    else:
        opcode, payload = Opcode.BINARY, message
    deflate = wire_format.deflate
    if deflate is not None and len(payload) >= deflate.min_size:
        return encode_frame(opcode, deflate.compress(payload), rsv1=True)
    return encode_frame(opcode, payload)
