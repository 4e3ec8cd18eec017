"""What an :class:`~wsbackend.protocol.endpoint.Endpoint` reports after reading bytes."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BinaryMessage", "Closed", "Event", "Ping", "Pong", "TextMessage"]


@dataclass(slots=True)
class TextMessage:
    """A complete text message, fragments joined and UTF-8 checked.

    Not frozen, hence not hashable (equality holds): one is made per message received (see
    :mod:`wsbackend.protocol`; building a frozen one cost 0.24 µs, this one 0.13).
    """

    data: str


@dataclass(slots=True)
class BinaryMessage:
    """A complete binary message, fragments joined and decompressed.

    Not frozen, hence not hashable, for the reason :class:`TextMessage` gives.
    """

    data: bytes


@dataclass(frozen=True, slots=True)
class Ping:
    """A ping from the peer; the endpoint has already queued the pong RFC 6455 §5.5.2 asks for."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Pong:
    """A pong from the peer, solicited or not."""

    payload: bytes


@dataclass(slots=True)
class Closed:
    """The connection is over; reported exactly once.

    Not frozen, hence not hashable, for the reason :class:`TextMessage` gives: one is made
    per connection (6.2 k instructions frozen, 2.3 k not).

    Attributes:
        code: The peer's close code for a closing handshake (1005 when its frame had none),
            1006 when the stream ended without one, or the code the endpoint failed with.
        reason: The close reason that went with ``code``.
        clean: True when the closing handshake completed (RFC 6455 §7.1.4 "cleanly").
    """

    code: int
    reason: str
    clean: bool


Event = TextMessage | BinaryMessage | Ping | Pong | Closed
