"""A bound on the frames decoded per call: the rest of the input waits in the endpoint, and
decoding it later gives exactly what one unbounded call would have."""

from __future__ import annotations

import pytest

from wsbackend.protocol import (
    Closed,
    Endpoint,
    Event,
    Ping,
    Pong,
    ProtocolVersion,
    Side,
    TextMessage,
)
from wsbackend.protocol.endpoint import MAX_PONGS_PER_READ
from wsbackend.protocol.hixie import HixieClosingFrame, HixieFrameParser
from wsbackend.protocol.hybi import Frame, FrameParser, Opcode

from .helpers import client_frame, server

BUDGET = 7


def _drain(endpoint: Endpoint, data: bytes) -> list[list[Event]]:
    """Feed ``data`` with the budget, then decode what it left: the events of each call."""
    endpoint.receive_data(data, BUDGET)
    calls = [endpoint.events_received()]
    while endpoint.input_pending:
        endpoint.receive_data(b"", BUDGET)
        calls.append(endpoint.events_received())
    return calls


@pytest.mark.parametrize("version", [ProtocolVersion.RFC_6455, ProtocolVersion.HIXIE_75])
def test_a_large_read_is_decoded_a_bounded_number_of_frames_at_a_time(
    version: ProtocolVersion,
) -> None:
    texts = [f"message {index}" for index in range(100)]
    if version.is_hixie:
        data = b"".join(b"\x00" + text.encode() + b"\xff" for text in texts)
    else:
        data = b"".join(client_frame(Opcode.TEXT, text.encode()) for text in texts)
    calls = _drain(server(version), data)
    assert all(len(events) <= BUDGET for events in calls)
    assert [event for events in calls for event in events] == [TextMessage(t) for t in texts]


def test_input_that_arrives_before_the_backlog_is_decoded_joins_it() -> None:
    """The rest of a read kept at an offset, then more data, then a frame split across both."""
    frames = [client_frame(Opcode.TEXT, b"x" * index) for index in range(20)]
    data = b"".join(frames)
    cut = len(data) - 3
    endpoint = server()
    endpoint.receive_data(data[:cut], BUDGET)
    first = endpoint.events_received()
    assert len(first) == BUDGET and endpoint.input_pending
    endpoint.receive_data(data[cut:], BUDGET)
    calls = [first, endpoint.events_received()]
    while endpoint.input_pending:
        endpoint.receive_data(b"", BUDGET)
        calls.append(endpoint.events_received())
    assert [event for events in calls for event in events] == [
        TextMessage("x" * index) for index in range(20)
    ]


def test_a_partial_frame_left_at_the_budget_waits_for_its_bytes() -> None:
    parser = FrameParser(require_mask=True, allow_rsv1=False, max_frame_size=1 << 20)
    data = client_frame(Opcode.TEXT, b"a") + client_frame(Opcode.TEXT, b"bcdef")
    frames: list[Frame] = []
    assert parser.feed(data[:-2], frames, 1)
    assert len(frames) == 1
    assert not parser.feed(b"", frames, 1)
    assert len(frames) == 1
    assert not parser.feed(data[-2:], frames, 2)
    assert frames[1] == Frame(Opcode.TEXT, b"bcdef")


def test_the_hixie_parser_stops_and_resumes() -> None:
    parser = HixieFrameParser(1 << 20)
    out: list[str | HixieClosingFrame] = []
    assert parser.feed(b"\x00a\xff\x00b\xff\x00c", out, 1)
    assert out == ["a"]
    assert not parser.feed(b"\xff", out, 5)
    assert out == ["a", "b", "c"]


def test_a_close_in_the_backlog_ends_it() -> None:
    data = b"".join(client_frame(Opcode.TEXT, b"m") for _ in range(10))
    data += client_frame(Opcode.CLOSE, b"\x03\xe8") + client_frame(Opcode.TEXT, b"late")
    calls = _drain(server(), data)
    events = [event for events in calls for event in events]
    assert events == [TextMessage("m")] * 10 + [Closed(1000, "", clean=True)]


def test_a_ping_flood_read_in_steps_still_costs_few_pongs_per_read() -> None:
    """The first pings of a read answered one by one; past them, only the latest of each
    step of the read."""
    endpoint = server()
    pings = b"".join(client_frame(Opcode.PING, str(index).encode()) for index in range(1000))
    endpoint.receive_data(pings, BUDGET)
    sent = [endpoint.data_to_send()]
    pinged = sum(isinstance(event, Ping) for event in endpoint.events_received())
    steps = 1
    while endpoint.input_pending:
        endpoint.receive_data(b"", BUDGET)
        pinged += sum(isinstance(event, Ping) for event in endpoint.events_received())
        sent.append(endpoint.data_to_send())
        steps += 1
    assert pinged == 1000
    client = Endpoint(ProtocolVersion.RFC_6455, Side.CLIENT)
    client.receive_data(b"".join(sent))
    pongs = client.events_received()
    assert MAX_PONGS_PER_READ < len(pongs) <= MAX_PONGS_PER_READ + steps
    answered = MAX_PONGS_PER_READ - 1
    assert pongs[:answered] == [Pong(str(index).encode()) for index in range(answered)]
    assert pongs[-1] == Pong(b"999")
