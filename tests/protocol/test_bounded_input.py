"""Hostile input costs memory and CPU in proportion to its size, not to its frame count:
fragments, ping floods, slow hixie frames."""

from __future__ import annotations

import gc
import tracemalloc
import weakref
import zlib

import pytest

from wsbackend.protocol import (
    BinaryMessage,
    Endpoint,
    Limits,
    PayloadTooBig,
    Ping,
    Pong,
    ProtocolVersion,
    Side,
    TextMessage,
)
from wsbackend.protocol.deflate import DeflateParameters, PerMessageDeflate
from wsbackend.protocol.endpoint import MAX_PONGS_PER_READ
from wsbackend.protocol.hixie import HixieFrameParser
from wsbackend.protocol.hybi import Frame, Opcode
from wsbackend.protocol.messages import MessageAssembler

from .helpers import client_frame, feed, server

FRAGMENTS = 200_000


def _peak_while_assembling(opcode: Opcode) -> tuple[int, object]:
    assembler = MessageAssembler(16 * 1024 * 1024, None)
    first = Frame(opcode, b"a", fin=False)
    middle = Frame(Opcode.CONTINUATION, b"b", fin=False)
    tracemalloc.start()
    try:
        assembler.process(first)
        for _ in range(FRAGMENTS):
            assembler.process(middle)
        message = assembler.process(Frame(Opcode.CONTINUATION, b"c"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, message


@pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY])
def test_fragments_cost_their_bytes_not_an_object_each(opcode: Opcode) -> None:
    """1-byte fragments: a list of 200,000 objects would take over 8 MB; the buffer takes
    a few times the message's 200 KB."""
    peak, message = _peak_while_assembling(opcode)
    assert peak < 8 * FRAGMENTS
    expected = b"a" + b"b" * FRAGMENTS + b"c"
    if opcode is Opcode.TEXT:
        assert message == TextMessage(expected.decode())
    else:
        assert message == BinaryMessage(expected)


def test_a_ping_flood_costs_a_bounded_number_of_pongs_per_read() -> None:
    endpoint = server()
    pings = b"".join(client_frame(Opcode.PING, str(index).encode()) for index in range(1000))
    events = feed(endpoint, pings)
    assert sum(isinstance(event, Ping) for event in events) == 1000
    client = Endpoint(ProtocolVersion.RFC_6455, Side.CLIENT)
    client.receive_data(endpoint.data_to_send())
    pongs = client.events_received()
    answered = [str(index).encode() for index in range(MAX_PONGS_PER_READ - 1)] + [b"999"]
    assert pongs == [Pong(payload) for payload in answered]


def test_a_few_pings_are_each_answered() -> None:
    """Autobahn 2.10 expects a pong for each of 10 pings sent at once."""
    endpoint = server()
    feed(endpoint, b"".join(client_frame(Opcode.PING, bytes([index])) for index in range(10)))
    client = Endpoint(ProtocolVersion.RFC_6455, Side.CLIENT)
    client.receive_data(endpoint.data_to_send())
    assert client.events_received() == [Pong(bytes([index])) for index in range(10)]


def test_a_pending_pong_leaves_before_the_close_frame() -> None:
    endpoint = server()
    feed(endpoint, client_frame(Opcode.PING, b"p") + client_frame(Opcode.CLOSE, b"\x03\xe8"))
    data = endpoint.data_to_send()
    assert data.startswith(b"\x8a\x01p") and data.endswith(b"\x88\x02\x03\xe8")


def test_a_whole_hixie_frame_over_the_limit_is_refused() -> None:
    parser = HixieFrameParser(max_message_size=10)
    with pytest.raises(PayloadTooBig):
        parser.feed(b"\x00" + b"a" * 11 + b"\xff", [])


def test_a_slow_hixie_frame_resumes_its_scan_where_the_last_read_stopped() -> None:
    """Each read searches only its new bytes for the frame's end (before, 1,000 reads of 100
    bytes searched 50 MB): the frames come out the same, and the next frame scans afresh."""
    parser = HixieFrameParser(max_message_size=1 << 20)
    out: list[object] = []
    parser.feed(b"\x00", out)
    for _ in range(1000):
        parser.feed(b"x" * 100, out)
    parser.feed(b"\xff", out)
    assert out == ["x" * 100_000]
    parser.feed(b"\x00y\xff", out)
    assert out[-1] == "y"


@pytest.mark.parametrize("failure", ["deflate-bomb", "fragments", "utf-8", "corrupt-deflate"])
def test_a_refused_message_is_freed_with_its_endpoint_without_the_collector(
    failure: str,
) -> None:
    """A message refused (1009 for a deflate bomb or fragments past the limit, 1007 for
    invalid UTF-8 or corrupt compressed data) must go when the connection does, not at the
    next collection: the kept error's traceback, or that of the exception it was raised from,
    would otherwise hold the endpoint and what it buffered in a cycle."""
    limit = 1 << 20
    limits = Limits(max_message_size=limit)
    codec = PerMessageDeflate(DeflateParameters()) if "deflate" in failure else None
    endpoint = Endpoint(ProtocolVersion.RFC_6455, limits=limits, deflate=codec)
    if failure == "deflate-bomb":
        squeezer = zlib.compressobj(wbits=-15)
        bomb = squeezer.compress(b"\x00" * (4 * limit)) + squeezer.flush(zlib.Z_SYNC_FLUSH)
        data = client_frame(Opcode.BINARY, bomb[:-4], rsv1=True)
    elif failure == "fragments":
        half = b"x" * (limit // 2 + 1)
        data = client_frame(Opcode.BINARY, half, fin=False) + client_frame(
            Opcode.CONTINUATION, half
        )
    elif failure == "utf-8":
        data = client_frame(Opcode.TEXT, b"a" * 1000 + b"\xff")
    else:
        data = client_frame(Opcode.BINARY, b"\xff" * 100, rsv1=True)
    expected = 1007 if failure in ("utf-8", "corrupt-deflate") else 1009
    gc.collect()
    gc.disable()
    try:
        events = feed(endpoint, data)
        assert events[-1].code == expected  # type: ignore[union-attr]
        gone = weakref.ref(endpoint)
        del endpoint
        assert gone() is None, "the refused endpoint is kept alive by a reference cycle"
    finally:
        gc.enable()
