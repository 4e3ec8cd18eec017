"""RFC 6455 framing (wsbackend/protocol/hybi.py), with the examples of RFC 6455 §5.7."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsbackend.protocol import InvalidFrame, PayloadTooBig
from wsbackend.protocol.hybi import (
    CloseInfo,
    Frame,
    FrameParser,
    Opcode,
    accept_key,
    encode_frame,
    frame_unmasked,
)
from wsbackend.protocol.masking import apply_mask

from .helpers import MASK

HELLO_UNMASKED = bytes.fromhex("810548656c6c6f")
HELLO_MASKED = bytes.fromhex("818537fa213d7f9f4d5158")


def parse(data: bytes, require_mask: bool = True, chunk: int | None = None) -> list[Frame]:
    parser = FrameParser(require_mask=require_mask, allow_rsv1=False, max_frame_size=1 << 20)
    frames: list[Frame] = []
    if chunk is None:
        parser.feed(data, frames)
    else:
        for start in range(0, len(data), chunk):
            parser.feed(data[start : start + chunk], frames)
    return frames


class TestRfc6455Examples:
    """RFC 6455 §5.7, byte for byte, in both directions."""

    def test_accept_key(self) -> None:
        """§1.3: the sample nonce's accept key."""
        assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

    def test_unmasked_hello(self) -> None:
        """A single-frame unmasked text message."""
        assert encode_frame(Opcode.TEXT, b"Hello") == HELLO_UNMASKED
        assert parse(HELLO_UNMASKED, require_mask=False) == [Frame(Opcode.TEXT, b"Hello")]

    def test_masked_hello(self) -> None:
        """A single-frame masked text message."""
        assert encode_frame(Opcode.TEXT, b"Hello", mask=MASK) == HELLO_MASKED
        assert parse(HELLO_MASKED) == [Frame(Opcode.TEXT, b"Hello")]

    def test_fragmented_unmasked(self) -> None:
        """A fragmented unmasked text message: "Hel" then "lo"."""
        data = bytes.fromhex("010348656c80026c6f")
        assert encode_frame(Opcode.TEXT, b"Hel", fin=False) + encode_frame(0, b"lo") == data
        assert parse(data, require_mask=False) == [
            Frame(Opcode.TEXT, b"Hel", fin=False),
            Frame(Opcode.CONTINUATION, b"lo"),
        ]

    def test_ping_and_masked_pong(self) -> None:
        """An unmasked ping and the masked pong answering it."""
        ping = bytes.fromhex("890548656c6c6f")
        pong = bytes.fromhex("8a8537fa213d7f9f4d5158")
        assert encode_frame(Opcode.PING, b"Hello") == ping
        assert encode_frame(Opcode.PONG, b"Hello", mask=MASK) == pong
        assert parse(pong) == [Frame(Opcode.PONG, b"Hello")]

    def test_256_bytes(self) -> None:
        """256 bytes of binary data in a single unmasked frame: 16-bit length."""
        payload = bytes(range(256))
        data = encode_frame(Opcode.BINARY, payload)
        assert data[:4] == bytes.fromhex("827e0100")
        assert parse(data, require_mask=False) == [Frame(Opcode.BINARY, payload)]

    def test_64_kib(self) -> None:
        """64 KiB of binary data in a single unmasked frame: 64-bit length."""
        payload = b"\xaa" * 65536
        data = encode_frame(Opcode.BINARY, payload)
        assert data[:10] == bytes.fromhex("827f0000000000010000")
        assert parse(data, require_mask=False, chunk=1000) == [Frame(Opcode.BINARY, payload)]


class TestParser:
    def test_byte_at_a_time(self) -> None:
        """Frames split at every byte boundary parse the same."""
        data = HELLO_MASKED * 3
        assert parse(data, chunk=1) == [Frame(Opcode.TEXT, b"Hello")] * 3

    def test_many_frames_per_read(self) -> None:
        """Every complete frame in one read comes out of one call."""
        assert len(parse(HELLO_MASKED * 100)) == 100

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            (bytes.fromhex("830548656c6c6f"), "reserved opcode"),
            (bytes.fromhex("b1 80 00000000".replace(" ", "")), "RSV2 or RSV3"),
            (bytes.fromhex("c180 00000000".replace(" ", "")), "RSV1"),
            (HELLO_UNMASKED, "unmasked client frame"),
            (bytes.fromhex("098000000000"), "fragmented PING"),
            (bytes.fromhex("89fe007e") + bytes(4 + 126), "PING frame with 126"),
            (bytes.fromhex("82ff8000000000000000"), "most significant bit"),
        ],
    )
    def test_bad_headers(self, data: bytes, message: str) -> None:
        """Each framing rule of RFC 6455 §5.2/§5.5 is enforced with 1002."""
        with pytest.raises(InvalidFrame, match=message) as info:
            parse(data)
        assert info.value.close_code == 1002

    def test_too_big_from_header(self) -> None:
        """A frame over the limit is refused from its header, before any payload (1009)."""
        parser = FrameParser(require_mask=True, allow_rsv1=False, max_frame_size=1000)
        with pytest.raises(PayloadTooBig) as info:
            parser.feed(bytes.fromhex("82fe0400") + MASK, [])
        assert info.value.close_code == 1009

    def test_frames_before_an_error_are_kept(self) -> None:
        """A bad frame does not lose the good ones read with it."""
        frames: list[Frame] = []
        parser = FrameParser(require_mask=True, allow_rsv1=False, max_frame_size=100)
        with pytest.raises(InvalidFrame):
            parser.feed(HELLO_MASKED + HELLO_UNMASKED, frames)
        assert frames == [Frame(Opcode.TEXT, b"Hello")]


class TestLoneMessage:
    """The shortcut for a read that holds exactly one whole message frame."""

    @pytest.mark.parametrize("size", [0, 5, 125, 126, 65535])
    @pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY])
    def test_taken_at_each_length_encoding(self, opcode: Opcode, size: int) -> None:
        """7-bit and 16-bit lengths are taken, unmasked, without a Frame."""
        payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
        parser = FrameParser(require_mask=True, allow_rsv1=False, max_frame_size=1 << 20)
        assert parser.lone_message(encode_frame(opcode, payload, mask=MASK)) == (opcode, payload)

    @pytest.mark.parametrize(
        "data",
        [
            HELLO_UNMASKED,  # unmasked: feed fails it with 1002
            HELLO_MASKED[:-1],  # incomplete
            HELLO_MASKED + HELLO_MASKED,  # two frames
            encode_frame(Opcode.TEXT, b"Hel", fin=False, mask=MASK),
            encode_frame(Opcode.TEXT, b"Hello", rsv1=True, mask=MASK),
            encode_frame(Opcode.PING, b"Hello", mask=MASK),
            encode_frame(Opcode.BINARY, bytes(65536), mask=MASK),  # 64-bit length
            encode_frame(Opcode.BINARY, bytes(200), mask=MASK),  # over max_frame_size
        ],
    )
    def test_left_to_feed(self, data: bytes) -> None:
        """Anything else, and anything that needs a check besides its length, goes to feed."""
        parser = FrameParser(require_mask=True, allow_rsv1=True, max_frame_size=100)
        assert parser.lone_message(data) is None

    def test_not_while_a_frame_is_pending(self) -> None:
        """Bytes that complete a pending frame are not a frame of their own, even when they
        would make one: here the rest of a 20-byte binary frame is a whole text frame."""
        parser = FrameParser(require_mask=True, allow_rsv1=False, max_frame_size=1 << 20)
        rest = encode_frame(Opcode.TEXT, b"x" * 18, mask=MASK)  # 24 bytes: mask + 20
        assert FrameParser(True, False, 1 << 20).lone_message(rest) is not None
        frames: list[Frame] = []
        parser.feed(bytes((0x82, 0x80 | 20)), frames)
        assert parser.lone_message(rest) is None
        parser.feed(rest, frames)
        assert frames == [Frame(Opcode.BINARY, apply_mask(rest[4:], rest[:4]))]

    @given(
        st.integers(0, 15),
        st.booleans(),
        st.booleans(),
        st.booleans(),
        st.binary(max_size=300),
        st.integers(-3, 3),
    )
    def test_agrees_with_feed(
        self, opcode: int, fin: bool, rsv1: bool, masked: bool, payload: bytes, extra: int
    ) -> None:
        """Whatever the header bits and length, with bytes cut off or added: a message it
        takes is the one frame that feed parses from the same bytes, and every whole, masked,
        uncompressed message frame within the limit is taken."""
        data = encode_frame(opcode, payload, fin, rsv1, MASK if masked else None)
        data = data[:extra] if extra < 0 else data + HELLO_MASKED[:extra]
        parser = FrameParser(require_mask=True, allow_rsv1=True, max_frame_size=200)
        lone = parser.lone_message(data)
        usual = opcode in (Opcode.TEXT, Opcode.BINARY) and fin and not rsv1 and masked
        assert (lone is not None) is (usual and extra == 0 and len(payload) <= 200)
        if lone is not None:
            frames: list[Frame] = []
            assert not parser.feed(data, frames)
            assert frames == [Frame(lone[0], lone[1])]


class TestCloseInfo:
    def test_round_trip(self) -> None:
        """Code and reason serialize as RFC 6455 §5.5.1 says."""
        assert CloseInfo(1000, "bye").serialize() == b"\x03\xe8bye"
        assert CloseInfo.parse(b"\x03\xe8bye") == CloseInfo(1000, "bye")

    def test_empty_is_1005(self) -> None:
        """An empty close payload means no status code (§7.1.5)."""
        assert CloseInfo.parse(b"") == CloseInfo(1005)

    @pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
    def test_codes_refused(self, code: int) -> None:
        """Reserved, unassigned and never-on-the-wire codes are a protocol error (§7.4)."""
        with pytest.raises(InvalidFrame):
            CloseInfo.parse(code.to_bytes(2, "big"))

    @pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999])
    def test_codes_accepted(self, code: int) -> None:
        """Registered codes and the 3000-4999 ranges are accepted."""
        assert CloseInfo.parse(code.to_bytes(2, "big")).code == code

    def test_long_reason_truncated_on_a_character(self) -> None:
        """A reason over 123 bytes is cut at a character boundary."""
        payload = CloseInfo(1000, "é" * 100).serialize()
        assert len(payload) <= 125
        assert CloseInfo.parse(payload).reason == "é" * 61


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
@pytest.mark.parametrize("kind", ["ascii", "multibyte", "bytes", "bytearray"])
def test_frame_unmasked_matches_encode_frame(size: int, kind: str) -> None:
    """The server's shortcut frames a message exactly as the general encoder does, at each
    boundary of the length encoding (7-bit, 16-bit, 64-bit) and for text and binary."""
    message: str | bytes
    if kind == "ascii":
        message = "a" * size
    elif kind == "multibyte":
        # ``size`` bytes of UTF-8 when encoded: 2-byte characters, padded with one ASCII.
        message = "é" * (size // 2) + "a" * (size % 2)
    elif kind == "bytes":
        message = bytes(range(256)) * (size // 256) + bytes(size % 256)
    else:
        message = bytearray(b"\xff" * size)
    if isinstance(message, str):
        payload = message.encode("utf-8")
        expected = encode_frame(Opcode.TEXT, payload)
    else:
        payload = bytes(message)
        expected = encode_frame(Opcode.BINARY, payload)
    assert len(payload) == size
    assert frame_unmasked(message) == expected
