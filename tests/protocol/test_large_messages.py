"""Large messages through the endpoint: framed as header and payload apart, and unmasked out
of the bytes read however they were split."""

from __future__ import annotations

import pytest

from wsbackend.protocol import (
    BinaryMessage,
    Endpoint,
    InvalidState,
    ProtocolVersion,
    Side,
    TextMessage,
)
from wsbackend.protocol.deflate import DeflateParameters, PerMessageDeflate
from wsbackend.protocol.hybi import Opcode

from .helpers import client_frame, feed, server

SIZES = [0, 125, 126, 65535, 65536, 300_000]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("text", [False, True])
def test_apart_joins_into_the_same_frame(size: int, text: bool) -> None:
    endpoint = server()
    message: str | bytes = "é" * (size // 2) if text else bytes(range(256)) * (size // 256)
    head, payload = endpoint.frame_message_apart(message)
    assert head + payload == endpoint.frame_message(message)
    if not text:
        assert payload is message  # written as given: no copy


@pytest.mark.parametrize(
    "endpoint",
    [
        Endpoint(ProtocolVersion.RFC_6455, Side.CLIENT),
        Endpoint(ProtocolVersion.RFC_6455, deflate=PerMessageDeflate(DeflateParameters())),
        Endpoint(ProtocolVersion.HIXIE_75),
    ],
    ids=["masked", "compressed", "hixie"],
)
def test_frames_that_are_not_their_payload_come_whole(endpoint: Endpoint) -> None:
    head, frame = endpoint.frame_message_apart("x" * 100_000)
    assert head == b""
    assert len(frame) > 0


def test_apart_refuses_what_frame_message_refuses() -> None:
    endpoint = server()
    endpoint.send_close()
    with pytest.raises(InvalidState):
        endpoint.frame_message_apart(b"x" * 100_000)
    with pytest.raises(InvalidState):
        server(ProtocolVersion.HIXIE_75).frame_message_apart(b"binary")


@pytest.mark.parametrize("chunk", [None, 1000, 65536, 262144])
@pytest.mark.parametrize("size", [4095, 4096, 300_000])
def test_large_masked_frames_unmask_across_reads(chunk: int | None, size: int) -> None:
    """From 4 KiB on the parser unmasks through a view of what it read."""
    payload = bytes((index * 7) & 0xFF for index in range(size))
    data = client_frame(Opcode.BINARY, payload) + client_frame(Opcode.TEXT, b"after")
    assert feed(server(), data, chunk) == [BinaryMessage(payload), TextMessage("after")]
