"""permessage-deflate (wsbackend/protocol/deflate.py), with RFC 7692's examples."""

from __future__ import annotations

import gc
import zlib

import pytest

from wsbackend.protocol import (
    Closed,
    Endpoint,
    InvalidPayload,
    Limits,
    PayloadTooBig,
    ProtocolVersion,
    Side,
    TextMessage,
)
from wsbackend.protocol.deflate import (
    DeflateConfig,
    DeflateParameters,
    PerMessageDeflate,
    negotiate_deflate,
)
from wsbackend.protocol.headers import parse_extension_offers
from wsbackend.protocol.hybi import Opcode

from .helpers import client_frame, feed


def deflate_server(params: DeflateParameters | None = None, **limits: int) -> Endpoint:
    codec = PerMessageDeflate(params or DeflateParameters())
    return Endpoint(ProtocolVersion.RFC_6455, limits=Limits(**limits), deflate=codec)


class TestRfc7692Examples:
    """RFC 7692 §7.2.3, as client frames read by the server."""

    def test_hello_one_frame(self) -> None:
        """§7.2.3.1: "Hello" compressed in one frame."""
        data = client_frame(Opcode.TEXT, bytes.fromhex("f248cdc9c90700"), rsv1=True)
        assert feed(deflate_server(), data) == [TextMessage("Hello")]

    def test_hello_fragmented(self) -> None:
        """§7.2.3.1: the same compressed data in two fragments; RSV1 on the first only."""
        data = client_frame(Opcode.TEXT, bytes.fromhex("f248cd"), fin=False, rsv1=True)
        data += client_frame(Opcode.CONTINUATION, bytes.fromhex("c9c90700"))
        assert feed(deflate_server(), data, chunk=2) == [TextMessage("Hello")]

    def test_context_takeover(self) -> None:
        """§7.2.3.2: the second "Hello" refers back into the first message."""
        data = client_frame(Opcode.TEXT, bytes.fromhex("f248cdc9c90700"), rsv1=True)
        data += client_frame(Opcode.TEXT, bytes.fromhex("f200110000"), rsv1=True)
        assert feed(deflate_server(), data) == [TextMessage("Hello")] * 2

    def test_stored_block(self) -> None:
        """§7.2.3.3: a DEFLATE block with no compression."""
        payload = bytes.fromhex("000500faff48656c6c6f00")
        data = client_frame(Opcode.TEXT, payload, rsv1=True)
        assert feed(deflate_server(), data) == [TextMessage("Hello")]

    def test_bfinal_set(self) -> None:
        """§7.2.3.4: a final block with BFINAL set."""
        data = client_frame(Opcode.TEXT, bytes.fromhex("f348cdc9c9070000"), rsv1=True)
        assert feed(deflate_server(), data) == [TextMessage("Hello")]

    def test_two_blocks(self) -> None:
        """§7.2.3.5: two DEFLATE blocks in one message."""
        payload = bytes.fromhex("f24805000000ffffcac9c90700")
        data = client_frame(Opcode.TEXT, payload, rsv1=True)
        assert feed(deflate_server(), data) == [TextMessage("Hello")]

    def test_server_output(self) -> None:
        """The server's "Hello" is §7.2.3.1's bytes; with context takeover, the second is
        §7.2.3.2's."""
        endpoint = deflate_server()
        endpoint.send_text("Hello")
        endpoint.send_text("Hello")
        assert endpoint.data_to_send() == bytes.fromhex("c107f248cdc9c90700c105f200110000")

    def test_no_context_takeover_output(self) -> None:
        """server_no_context_takeover: every "Hello" compresses alike (shareable frames)."""
        endpoint = deflate_server(DeflateParameters(server_no_context_takeover=True))
        endpoint.send_text("Hello")
        endpoint.send_text("Hello")
        assert endpoint.data_to_send() == bytes.fromhex("c107f248cdc9c90700") * 2


class TestNegotiation:
    """RFC 7692 §5 and §7.1: accept the first offer we can honour, answer every parameter."""

    def negotiate(self, offer: str, config: DeflateConfig | None = None) -> str | None:
        params = negotiate_deflate(parse_extension_offers(offer), config or DeflateConfig())
        return None if params is None else params.response_value()

    @pytest.mark.parametrize(
        ("offer", "response"),
        [
            ("permessage-deflate", "permessage-deflate"),
            ("permessage-deflate; client_max_window_bits", "permessage-deflate"),
            (
                "permessage-deflate; client_max_window_bits=10",
                "permessage-deflate; client_max_window_bits=10",
            ),
            (
                "permessage-deflate; server_max_window_bits=8",
                "permessage-deflate; server_max_window_bits=8",
            ),
            (
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            ),
            ("x-webkit-deflate-frame, permessage-deflate", "permessage-deflate"),
            (
                "permessage-deflate; server_max_window_bits=7, permessage-deflate",
                "permessage-deflate",
            ),
            ("permessage-deflate; unknown=1", None),
            ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", None),
            ("permessage-deflate; server_max_window_bits", None),
            ("permessage-deflate; client_max_window_bits=16", None),
            ("permessage-deflate; server_no_context_takeover=1", None),
            ("x-other", None),
        ],
    )
    def test_offers(self, offer: str, response: str | None) -> None:
        assert self.negotiate(offer) == response

    def test_server_preferences(self) -> None:
        """The server may add server/client_no_context_takeover and its own window bits."""
        config = DeflateConfig(
            server_no_context_takeover=True,
            client_no_context_takeover=True,
            server_max_window_bits=12,
        )
        assert self.negotiate("permessage-deflate", config) == (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=12"
        )


class TestBounds:
    def test_deflate_bomb(self) -> None:
        """16 MiB of zeros compressed to a few KiB are refused at the budget (1009)."""
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        bomb = compressor.compress(bytes(16 << 20)) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert len(bomb) < 20000
        endpoint = deflate_server(max_message_size=1 << 20)
        events = feed(endpoint, client_frame(Opcode.BINARY, bomb[:-4], rsv1=True))
        assert isinstance(events[-1], Closed) and events[-1].code == 1009

    def test_bounded_per_call(self) -> None:
        """decompress never returns more than the budget."""
        codec = PerMessageDeflate(DeflateParameters())
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        data = compressor.compress(bytes(100_000)) + compressor.flush(zlib.Z_SYNC_FLUSH)
        with pytest.raises(PayloadTooBig):
            codec.decompress(data, 1000, final=False)

    def test_corrupt(self) -> None:
        codec = PerMessageDeflate(DeflateParameters())
        with pytest.raises(InvalidPayload):
            codec.decompress(b"\xff\xff\xff", 1000, final=True)

    def test_8_bit_window_output_readable_by_8_bit_window(self) -> None:
        """With server_max_window_bits=8 our output inflates with a 256-byte window."""
        codec = PerMessageDeflate(DeflateParameters(server_max_window_bits=8))
        text = bytes(range(256)) * 20 + b"abc" * 300
        compressed = codec.compress(text)
        decompressor = zlib.decompressobj(wbits=-8)
        assert decompressor.decompress(compressed + b"\x00\x00\xff\xff") == text


def test_client_to_server_round_trip() -> None:
    """A CLIENT endpoint compresses; the SERVER inflates, both without context takeover."""
    params = DeflateParameters(server_no_context_takeover=True, client_no_context_takeover=True)
    codec = PerMessageDeflate(params, is_server=False)
    client = Endpoint(ProtocolVersion.RFC_6455, Side.CLIENT, deflate=codec)
    server = deflate_server(params)
    for text in ["a" * 1000, "ünïcode " * 50, ""]:
        client.send_text(text)
        assert feed(server, client.data_to_send()) == [TextMessage(text)]


def test_rsv1_on_a_continuation_frame_fails_with_1002() -> None:
    """RFC 7692 §6.1: RSV1 marks the first frame of a compressed message only."""
    data = client_frame(Opcode.TEXT, bytes.fromhex("f248cd"), fin=False, rsv1=True)
    data += client_frame(Opcode.CONTINUATION, bytes.fromhex("c9c90700"), rsv1=True)
    events = feed(deflate_server(), data)
    assert len(events) == 1
    assert isinstance(events[0], Closed)
    assert events[0].code == 1002


def zlib_state(codec: PerMessageDeflate) -> list[str]:
    """The zlib objects the codec holds, by type name (what each idle connection would keep)."""
    return sorted(type(obj).__name__ for obj in gc.get_referents(codec) if _is_zlib(obj))


def _is_zlib(obj: object) -> bool:
    return type(obj) in (type(zlib.compressobj()), type(zlib.decompressobj()))


class TestLazyState:
    """zlib's state is made when compressed data flows, and dropped when it restarts anyway."""

    HELLO = client_frame(Opcode.TEXT, bytes.fromhex("f248cdc9c90700"), rsv1=True)

    def test_idle_connection_holds_none(self) -> None:
        codec = PerMessageDeflate(DeflateParameters())
        endpoint = Endpoint(ProtocolVersion.RFC_6455, deflate=codec)
        feed(endpoint, client_frame(Opcode.PING, b"x"))
        assert zlib_state(codec) == []

    def test_made_by_the_first_message_each_way(self) -> None:
        codec = PerMessageDeflate(DeflateParameters())
        endpoint = Endpoint(ProtocolVersion.RFC_6455, deflate=codec)
        assert feed(endpoint, self.HELLO) == [TextMessage("Hello")]
        assert zlib_state(codec) == ["Decompress"]
        endpoint.send_text("Hello")
        assert zlib_state(codec) == ["Compress", "Decompress"]

    def test_no_context_takeover_keeps_none_between_messages(self) -> None:
        params = DeflateParameters(server_no_context_takeover=True, client_no_context_takeover=True)
        codec = PerMessageDeflate(params)
        endpoint = Endpoint(ProtocolVersion.RFC_6455, deflate=codec)
        assert feed(endpoint, self.HELLO * 2) == [TextMessage("Hello")] * 2
        endpoint.send_text("Hello")
        assert endpoint.data_to_send() == bytes.fromhex("c107f248cdc9c90700")
        assert zlib_state(codec) == []
