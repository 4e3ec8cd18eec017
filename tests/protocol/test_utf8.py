"""Incremental UTF-8 (wsbackend/protocol/utf8.py)."""

from __future__ import annotations

import pytest

from wsbackend.protocol import InvalidPayload
from wsbackend.protocol.utf8 import Utf8Decoder, decode_utf8


def test_split_characters() -> None:
    """A character split across fragments decodes once complete."""
    decoder = Utf8Decoder()
    data = "κόσμε€𝄞".encode()
    assert "".join(decoder.decode(data[i : i + 1]) for i in range(len(data))) == "κόσμε€𝄞"
    assert decoder.decode(b"", final=True) == ""


@pytest.mark.parametrize(
    "prefix",
    [b"\xed\xa0", b"\xf4\x90", b"\xc0", b"\xf5", b"\xe0\x80", b"\x80", b"ok\xceX"],
)
def test_fails_fast(prefix: bytes) -> None:
    """Bytes that no continuation can make valid are refused at once (RFC 6455 §8.1)."""
    with pytest.raises(InvalidPayload) as info:
        Utf8Decoder().decode(prefix)
    assert info.value.close_code == 1007


def test_truncated_at_end() -> None:
    decoder = Utf8Decoder()
    assert decoder.decode(b"\xe2\x82") == ""
    with pytest.raises(InvalidPayload):
        decoder.decode(b"", final=True)


def test_whole() -> None:
    assert decode_utf8("€".encode()) == "€"
    with pytest.raises(InvalidPayload, match="close reason at byte 1"):
        decode_utf8(b"a\xff", "close reason")
