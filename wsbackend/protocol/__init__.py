"""The sans-IO WebSocket protocol core: every version's handshake and framing.

Nothing here reads a socket, sleeps, logs or imports gevent: transports feed bytes in and write
the bytes that come out. :func:`accept` answers an upgrade request; :class:`Endpoint` then runs the
connection.

Paths run per frame or per handshake compare against enum members bound to module names at
import (``_OPEN = State.OPEN``): on CPython 3.11 a member read through its class is a descriptor
call, ~0.2 µs, some twenty times a global's read. Events built per message or handshake are
plain (not frozen) dataclasses for the same reason: a frozen one sets each field through
``object.__setattr__``. Treat them as read only.
"""

from __future__ import annotations

from .codes import CloseCode
from .deflate import DeflateConfig, DeflateParameters
from .endpoint import Endpoint, Side, State
from .errors import (
    BadRequest,
    Forbidden,
    HandshakeError,
    InvalidCloseCode,
    InvalidFrame,
    InvalidPayload,
    InvalidState,
    MethodNotAllowed,
    PayloadTooBig,
    ProtocolError,
    RequestHeaderTooLarge,
    UpgradeRequired,
    WebSocketError,
)
from .events import BinaryMessage, Closed, Event, Ping, Pong, TextMessage
from .handshake import AcceptedHandshake, HandshakePolicy, accept, is_upgrade_request
from .headers import Headers
from .limits import Limits
from .origin import OriginPolicy, same_origin
from .request import HandshakeRequest, parse_request_head
from .versions import ProtocolVersion

__all__ = [
    "AcceptedHandshake",
    "BadRequest",
    "BinaryMessage",
    "CloseCode",
    "Closed",
    "DeflateConfig",
    "DeflateParameters",
    "Endpoint",
    "Event",
    "Forbidden",
    "HandshakeError",
    "HandshakePolicy",
    "HandshakeRequest",
    "Headers",
    "InvalidCloseCode",
    "InvalidFrame",
    "InvalidPayload",
    "InvalidState",
    "Limits",
    "MethodNotAllowed",
    "OriginPolicy",
    "PayloadTooBig",
    "Ping",
    "Pong",
    "ProtocolError",
    "ProtocolVersion",
    "RequestHeaderTooLarge",
    "Side",
    "State",
    "TextMessage",
    "UpgradeRequired",
    "WebSocketError",
    "accept",
    "is_upgrade_request",
    "parse_request_head",
    "same_origin",
]
