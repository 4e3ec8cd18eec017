"""permessage-deflate (RFC 7692): negotiation and per-message compression.

The server accepts the first offer it can honour (§5), and answers every parameter the offer
carries: ``server_no_context_takeover``, ``client_no_context_takeover``,
``server_max_window_bits`` and ``client_max_window_bits``. Inflation is bounded by the message
budget, so a deflate bomb is refused with 1009 instead of expanding into memory.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from .errors import InvalidPayload, PayloadTooBig
from .headers import ExtensionOffer

__all__ = [
    "DeflateConfig",
    "DeflateParameters",
    "PerMessageDeflate",
    "SharedDeflate",
    "negotiate_deflate",
]

EXTENSION_NAME = "permessage-deflate"
_EMPTY_BLOCK_TAIL = b"\x00\x00\xff\xff"
"""RFC 7692 §7.2.1: removed from each compressed message, appended again before inflating."""
_MIN_WINDOW_BITS = 8
_MAX_WINDOW_BITS = 15
_WINDOW_BITS_RE = re.compile(r"[1-9][0-9]?")
"""``1*DIGIT`` without a leading zero; ``[0-9]`` is ASCII only, where ``str.isdigit`` is not."""
_ZLIB_MIN_DEFLATE_WINDOW_BITS = 9
"""zlib refuses 8 for raw deflate. A 9-bit zlib window never emits distances over 250 bytes
(512 minus its 262-byte lookahead), which a peer with a 256-byte window decodes correctly."""


@dataclass(frozen=True, slots=True)
class DeflateConfig:
    """What the server is willing to do; the defaults accept any reasonable offer.

    Attributes:
        server_no_context_takeover: Always reset our compressor between messages (costs ratio,
            saves 256 KiB per connection, and makes compressed frames shareable between
            clients for broadcast).
        client_no_context_takeover: Ask clients to reset theirs (saves our inflate window).
        server_max_window_bits: Largest window our compressor uses.
        compression_level: zlib level, 1 (fast) to 9 (small).
        min_size: Messages shorter than this are sent uncompressed (RFC 7692 §6 allows it).
            0 by default, compressing everything as browsers do: some clients mishandle an
            uncompressed message in a compressed session (the kosoku conformance runner hands
            it to its checks as str and errors on the 12.x.1 / 13.x.1 cases).
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = _MAX_WINDOW_BITS
    compression_level: int = 6
    min_size: int = 0


@dataclass(frozen=True, slots=True)
class DeflateParameters:
    """The agreed parameters of one connection."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = _MAX_WINDOW_BITS
    client_max_window_bits: int = _MAX_WINDOW_BITS
    server_max_window_bits_requested: bool = False
    client_max_window_bits_requested: bool = False

    def response_value(self) -> str:
        """The ``Sec-WebSocket-Extensions`` element accepting the offer (RFC 7692 §7.1)."""
        parts = [EXTENSION_NAME]
        if self.server_no_context_takeover:
            parts.append("server_no_context_takeover")
        if self.client_no_context_takeover:
            parts.append("client_no_context_takeover")
        if self.server_max_window_bits_requested:
            parts.append(f"server_max_window_bits={self.server_max_window_bits}")
        if self.client_max_window_bits_requested:
            parts.append(f"client_max_window_bits={self.client_max_window_bits}")
        return "; ".join(parts)


def _window_bits(value: str | None) -> int | None:
    """A window-bits value per RFC 7692 §7.1.2.1 (ASCII digits, no leading zero), or None if it
    is not one."""
    if value is None or not _WINDOW_BITS_RE.fullmatch(value):
        return None
    bits = int(value)
    return bits if _MIN_WINDOW_BITS <= bits <= _MAX_WINDOW_BITS else None


def _accept_offer(offer: ExtensionOffer, config: DeflateConfig) -> DeflateParameters | None:
    """The parameters answering ``offer``, or None to decline it (§7.1: unknown or repeated
    parameters, or invalid values, make an offer unacceptable)."""
    seen = set()
    server_nct = config.server_no_context_takeover
    client_nct = config.client_no_context_takeover
    server_bits = config.server_max_window_bits
    server_bits_requested = client_bits_requested = False
    client_bits = _MAX_WINDOW_BITS
    for name, value in offer.params:
        if name in seen:
            return None
        seen.add(name)
        if name == "server_no_context_takeover" and value is None:
            server_nct = True
        elif name == "client_no_context_takeover" and value is None:
            client_nct = True
        elif name == "server_max_window_bits":
            bits = _window_bits(value)
            if bits is None:
                return None
            server_bits = min(bits, server_bits)
            server_bits_requested = True
        elif name == "client_max_window_bits":
            if value is not None:
                bits = _window_bits(value)
                if bits is None:
                    return None
                client_bits = bits
                client_bits_requested = True
        else:
            return None
    if server_bits < _MAX_WINDOW_BITS:
        server_bits_requested = True
    return DeflateParameters(
        server_nct,
        client_nct,
        server_bits,
        client_bits,
        server_bits_requested,
        client_bits_requested,
    )


def negotiate_deflate(
    offers: list[ExtensionOffer], config: DeflateConfig
) -> DeflateParameters | None:
    """Accept the first permessage-deflate offer we can honour, or None for no compression."""
    for offer in offers:
        if offer.name == EXTENSION_NAME:
            accepted = _accept_offer(offer, config)
            if accepted is not None:
                return accepted
    return None


def _deflate_message(data: bytes, compressor: zlib._Compress) -> bytes:
    """Compress one whole message, without the trailing empty block (RFC 7692 §7.2.1)."""
    compressed = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    if compressed.endswith(_EMPTY_BLOCK_TAIL):
        return compressed[:-4]
    return compressed


@dataclass(frozen=True, slots=True)
class SharedDeflate:
    """Compression that starts afresh with every message (``server_no_context_takeover``).

    Its output depends only on these fields and the message, so connections with equal
    settings can share one compressed frame: a broadcast compresses once, not per client.
    """

    window_bits: int
    level: int
    min_size: int

    def compress(self, data: bytes) -> bytes:
        """The compressed payload of one message."""
        return _deflate_message(
            data, zlib.compressobj(self.level, zlib.DEFLATED, -self.window_bits)
        )


class PerMessageDeflate:
    """The compressor and decompressor of one connection, seen from the server.

    Each zlib object is made when the first message needs it, and one that starts afresh
    with every message is not kept between messages: a compressor costs ~256 KiB of address
    space, ~80 KiB of it resident from the start, an inflater up to 40 KiB, and most
    connections sit idle or talk one way.

    The client side (``is_server=False``) exists so tests and tools can drive a server.
    """

    __slots__ = (
        "_compressor",
        "_decompressor",
        "_deflate_bits",
        "_inflate_bits",
        "_level",
        "_min_size",
        "_reset_compressor",
        "_reset_decompressor",
    )

    def __init__(
        self, params: DeflateParameters, is_server: bool = True, level: int = 6, min_size: int = 0
    ) -> None:
        own_bits = params.server_max_window_bits if is_server else params.client_max_window_bits
        self._deflate_bits = max(own_bits, _ZLIB_MIN_DEFLATE_WINDOW_BITS)
        self._inflate_bits = _MAX_WINDOW_BITS
        self._reset_compressor = (
            params.server_no_context_takeover if is_server else params.client_no_context_takeover
        )
        self._reset_decompressor = (
            params.client_no_context_takeover if is_server else params.server_no_context_takeover
        )
        self._level = level
        self._min_size = min_size
        self._compressor: zlib._Compress | None = None
        self._decompressor: zlib._Decompress | None = None

    def _new_compressor(self) -> zlib._Compress:
        return zlib.compressobj(self._level, zlib.DEFLATED, -self._deflate_bits)

    def should_compress(self, size: int) -> bool:
        """Whether a message of ``size`` bytes is worth compressing."""
        return size >= self._min_size

    def compress(self, data: bytes) -> bytes:
        """Compress one whole message, without the trailing empty block (RFC 7692 §7.2.1)."""
        if self._reset_compressor:
            return _deflate_message(data, self._new_compressor())
        compressor = self._compressor
        if compressor is None:
            compressor = self._compressor = self._new_compressor()
        return _deflate_message(data, compressor)

    @property
    def shared(self) -> SharedDeflate | None:
        """The settings to share compressed frames under, or None when this connection keeps
        its compression context (each message then depends on the ones before it)."""
        if not self._reset_compressor:
            return None
        return SharedDeflate(self._deflate_bits, self._level, self._min_size)

    def decompress(self, data: bytes, budget: int, final: bool) -> bytes:
        """Inflate one frame of a compressed message, producing at most ``budget`` bytes.

        Raises:
            PayloadTooBig: The output would exceed ``budget`` (1009): a deflate bomb stops here.
            InvalidPayload: Corrupt compressed data (1007).
        """
        decompressor = self._decompressor
        if decompressor is None:
            decompressor = self._decompressor = zlib.decompressobj(wbits=-self._inflate_bits)
        if final:
            data += _EMPTY_BLOCK_TAIL
        try:
            output = decompressor.decompress(data, budget + 1)
        except zlib.error as exc:
            raise InvalidPayload(f"invalid compressed data: {exc}") from None
        if len(output) > budget or decompressor.unconsumed_tail:
            raise PayloadTooBig("decompressed message over the size limit")
        if final and self._reset_decompressor:
            self._decompressor = None
        return output
