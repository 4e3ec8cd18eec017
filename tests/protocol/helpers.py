"""Small builders shared by the protocol tests."""

from __future__ import annotations

from wsbackend.protocol import Endpoint, Event, ProtocolVersion
from wsbackend.protocol.hybi import encode_frame

MASK = bytes.fromhex("37fa213d")
"""The masking key of RFC 6455 §5.7's examples."""


def client_frame(
    opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False, mask: bytes = MASK
) -> bytes:
    """A masked frame as a client sends it."""
    return encode_frame(opcode, payload, fin, rsv1, mask)


def feed(endpoint: Endpoint, data: bytes, chunk: int | None = None) -> list[Event]:
    """Feed ``data`` whole or ``chunk`` bytes at a time; return every event."""
    if chunk is None:
        endpoint.receive_data(data)
    else:
        for start in range(0, len(data), chunk):
            endpoint.receive_data(data[start : start + chunk])
    return endpoint.events_received()


def server(version: ProtocolVersion = ProtocolVersion.RFC_6455) -> Endpoint:
    return Endpoint(version)
