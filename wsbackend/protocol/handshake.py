"""The server side of the opening handshake, for every protocol version.

:func:`accept` detects the version from the request, validates it, negotiates the subprotocol
and permessage-deflate, and returns an :class:`AcceptedHandshake` holding the exact reply. A
request that must be refused raises a :class:`HandshakeError` that carries the status and headers
of the reply (RFC 6455 §4.2.2, §4.4). Policy, which subprotocols have an application and which
origins are welcome, is injected through :class:`HandshakePolicy`.

Versions are told apart by their headers: ``Sec-WebSocket-Version`` means hybi-07/08 or RFC 6455;
``Sec-WebSocket-Key1`` and ``Key2`` mean hixie-76; an upgrade with neither is hixie-75.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from . import headers as h
from .deflate import DeflateConfig, DeflateParameters, negotiate_deflate
from .errors import BadRequest, Forbidden, MethodNotAllowed, UpgradeRequired
from .hixie import key_number
from .hybi import accept_key
from .request import HandshakeRequest
from .versions import SUPPORTED_HYBI_VERSIONS, ProtocolVersion

__all__ = [
    "AcceptedHandshake",
    "HandshakePolicy",
    "HixieChallenge",
    "accept",
    "detect_version",
    "is_upgrade_request",
    "request_origin",
]

SubprotocolSelector = Callable[[Sequence[str]], "str | None"]
OriginCheck = Callable[["str | None", HandshakeRequest], bool]

_HYBI_STATUS = "101 Switching Protocols"
_HIXIE_75_STATUS = "101 Web Socket Protocol Handshake"
_HIXIE_76_STATUS = "101 WebSocket Protocol Handshake"
_TARGET_RE = re.compile(r"(?:/|(?i:https?|wss?)://)[\x21\x22\x24-\x7e\x80-\xff]*")
"""An upgrade's target: a path (origin-form) or a whole http(s) or ws(s) URI (absolute-form),
RFC 6455 §3 and §4.2.1, RFC 9112 §3.2; no fragment (``#``), no whitespace or control
characters (obs-text tolerated)."""
_HOST_RE = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[-A-Za-z0-9._~!$&'()*+;=%]*)(?::[0-9]{0,5})?")
"""RFC 9112 §3.2 (RFC 3986 §3.2.2): a host name, IPv4 or bracketed IPv6 address, and perhaps
a port: a server must refuse any other Host with 400. (A comma, which reg-name allows, is
refused apart: repeated Host fields come joined by one.)"""
_KEY_SIZE = 16
"""RFC 6455 §4.1: the key is 16 random bytes, base64-encoded."""
_TRANSFER_ENCODING, _CONTENT_LENGTH, _CONNECTION, _HOST = (
    name.lower() for name in (h.TRANSFER_ENCODING, h.CONTENT_LENGTH, h.CONNECTION, h.HOST)
)
_KEY, _VERSION, _PROTOCOL, _EXTENSIONS = (
    name.lower()
    for name in (
        h.SEC_WEBSOCKET_KEY,
        h.SEC_WEBSOCKET_VERSION,
        h.SEC_WEBSOCKET_PROTOCOL,
        h.SEC_WEBSOCKET_EXTENSIONS,
    )
)
"""Keys of :meth:`Headers.by_name <.headers.Headers.by_name>`, for the lookups of every
handshake."""
_HYBI_07, _HYBI_08, _RFC_6455 = (
    ProtocolVersion.HYBI_07,
    ProtocolVersion.HYBI_08,
    ProtocolVersion.RFC_6455,
)
"""Enum members read once (see :mod:`wsbackend.protocol`)."""


@dataclass(frozen=True, slots=True)
class HandshakePolicy:
    """What the server decides per request.

    Attributes:
        select_subprotocol: Given the client's offers in order, return the one to use, or None
            to use none. It may raise a :class:`HandshakeError` to refuse the request.
        check_origin: Given the request's origin (None when absent) and the request, tell
            whether to accept it; False refuses with 403.
        deflate: permessage-deflate preferences, or None to never negotiate it.
    """

    select_subprotocol: SubprotocolSelector | None = None
    check_origin: OriginCheck | None = None
    deflate: DeflateConfig | None = field(default_factory=DeflateConfig)


DEFAULT_POLICY = HandshakePolicy()
"""Any subprotocol offer goes unanswered, any origin is accepted, deflate is offered."""


@dataclass(frozen=True, slots=True)
class HixieChallenge:
    """The two key numbers of a hixie-76 request, answered once the 8 key bytes arrive."""

    number1: int
    number2: int


@dataclass(slots=True)
class AcceptedHandshake:
    """A handshake the server accepts, with everything the reply and the endpoint need.

    Not frozen, hence not hashable (equality holds): one is made per handshake (see
    :mod:`wsbackend.protocol`; a frozen one took 11 k instructions to build, this one 2.7 k).

    Attributes:
        version: The protocol spoken from now on.
        status: The status of the 101 reply, e.g. ``"101 Switching Protocols"``.
        headers: The reply's header fields, in order.
        subprotocol: The selected subprotocol, if any.
        deflate: The permessage-deflate parameters, if negotiated.
        challenge: For hixie-76, the challenge the 8 bytes after the request head complete.
    """

    version: ProtocolVersion
    status: str
    headers: tuple[tuple[str, str], ...]
    subprotocol: str | None = None
    deflate: DeflateParameters | None = None
    challenge: HixieChallenge | None = None

    def response_head(self, extra_headers: Sequence[tuple[str, str]] = ()) -> bytes:
        """The reply's status line and header fields, up to and including the blank line.

        For hixie-76 the 16-byte answer comes later, from the endpoint.
        """
        headers = (*self.headers, *extra_headers) if extra_headers else self.headers
        fields = "".join([f"{name}: {value}\r\n" for name, value in headers])
        return f"HTTP/1.1 {self.status}\r\n{fields}\r\n".encode("latin-1")


def is_upgrade_request(request: HandshakeRequest) -> bool:
    """Whether the request asks for a WebSocket upgrade at all (the rest is plain HTTP).

    ``Upgrade`` is a list of protocols (RFC 9110 §7.8): ``websocket`` must be one of them, not
    a substring of one.
    """
    upgrade = request.headers.get(h.UPGRADE)
    if upgrade is None:
        return False
    if "," not in upgrade:  # the usual one-protocol value, without a generator
        return upgrade.strip().lower() == "websocket"
    return any(protocol.strip().lower() == "websocket" for protocol in upgrade.split(","))


def detect_version(request: HandshakeRequest) -> ProtocolVersion:
    """The protocol version the request speaks.

    Raises:
        UpgradeRequired: A ``Sec-WebSocket-Version`` we do not speak, or a hybi key without one.
    """
    hdrs = request.headers
    version = hdrs.by_name().get(_VERSION)
    if version is not None:
        found = SUPPORTED_HYBI_VERSIONS.get(version.strip())
        if found is None:
            raise _unsupported_version(f"unsupported Sec-WebSocket-Version {version[:20]!r}")
        return found
    if h.SEC_WEBSOCKET_KEY in hdrs:
        raise _unsupported_version("Sec-WebSocket-Key without Sec-WebSocket-Version")
    key1, key2 = h.SEC_WEBSOCKET_KEY1 in hdrs, h.SEC_WEBSOCKET_KEY2 in hdrs
    if key1 and key2:
        return ProtocolVersion.HIXIE_76
    if key1 or key2:
        raise BadRequest("hixie-76 request with one of Sec-WebSocket-Key1 and Key2")
    return ProtocolVersion.HIXIE_75


def _unsupported_version(message: str) -> UpgradeRequired:
    return UpgradeRequired(
        message, ((h.SEC_WEBSOCKET_VERSION, ", ".join(SUPPORTED_HYBI_VERSIONS)),)
    )


def request_origin(request: HandshakeRequest, version: ProtocolVersion) -> str | None:
    """The page origin a request states: hybi-07/08 call it ``Sec-WebSocket-Origin``."""
    if version is _HYBI_07 or version is _HYBI_08:
        return request.headers.get(h.SEC_WEBSOCKET_ORIGIN)
    return request.headers.get(h.ORIGIN)


def _check_upgrade(request: HandshakeRequest) -> str:
    """Apply RFC 6455 §4.2.1 items 1-4 (common to all versions); return the Host.

    The request must also be well-formed HTTP with no body: a body on an upgrade would be read
    as WebSocket frames, and a field with control characters could be echoed into our reply.
    """
    h.check_fields(request.headers)
    fields = request.headers.by_name()
    if not _TARGET_RE.fullmatch(request.target):
        raise BadRequest(f"malformed request target {request.target[:80]!r}")
    if _TRANSFER_ENCODING in fields:
        raise BadRequest("upgrade request with a Transfer-Encoding (a body)")
    if (fields.get(_CONTENT_LENGTH) or "0").strip() != "0":
        raise BadRequest("upgrade request with a Content-Length (a body)")
    if request.method != "GET":
        raise MethodNotAllowed(f"upgrade request with method {request.method[:20]!r}")
    if request.http_version not in ("HTTP/1.1", "HTTP/2", "HTTP/2.0", "HTTP/3"):
        raise BadRequest(f"upgrade request over {request.http_version[:20]!r}, not HTTP/1.1")
    if not is_upgrade_request(request):
        raise BadRequest("no 'Upgrade: websocket' header")
    connection = [token.lower() for token in h.parse_token_list(fields.get(_CONNECTION))]
    if "upgrade" not in connection:
        raise BadRequest("no 'Connection: Upgrade' header")
    host = fields.get(_HOST)
    if not host or "," in host:
        raise BadRequest("missing or repeated Host header")
    if not _HOST_RE.fullmatch(host):
        raise BadRequest(f"invalid Host {host[:80]!r}")
    return host


def _check_origin(
    request: HandshakeRequest, version: ProtocolVersion, policy: HandshakePolicy
) -> str | None:
    origin = request_origin(request, version)
    if policy.check_origin is not None and not policy.check_origin(origin, request):
        raise Forbidden(f"origin {origin!r} not allowed")
    return origin


def _select_subprotocol(offers: Sequence[str], policy: HandshakePolicy) -> str | None:
    if policy.select_subprotocol is None:
        return None
    chosen = policy.select_subprotocol(offers)
    if chosen is not None and chosen not in offers:
        raise ValueError(f"select_subprotocol chose {chosen!r}, which was not offered")
    return chosen


def accept(
    request: HandshakeRequest, policy: HandshakePolicy = DEFAULT_POLICY, secure: bool = False
) -> AcceptedHandshake:
    """Validate an upgrade request and build the reply.

    Args:
        request: The client's request.
        policy: Subprotocol, origin and compression decisions.
        secure: Whether the client reached us over TLS (directly or through a trusted proxy);
            it decides ``ws://`` or ``wss://`` in hixie's location header.

    Raises:
        HandshakeError: The request is refused; the exception carries the reply.
    """
    host = _check_upgrade(request)
    version = detect_version(request)
    origin = _check_origin(request, version, policy)
    if version.is_hixie:
        return _accept_hixie(request, version, policy, origin, host, secure)
    return _accept_hybi(request, version, policy)


def _accept_hybi(
    request: HandshakeRequest, version: ProtocolVersion, policy: HandshakePolicy
) -> AcceptedHandshake:
    fields = request.headers.by_name()
    sent_key = fields.get(_KEY)  # repeated keys joined: a comma, never in base64
    if sent_key is None or (
        "," in sent_key and len(request.headers.get_all(h.SEC_WEBSOCKET_KEY)) != 1
    ):
        raise BadRequest("missing or repeated Sec-WebSocket-Key")
    key = sent_key.strip()
    try:
        # What b64decode(validate=True) accepts, without its regular expression.
        raw_key = binascii.a2b_base64(key, strict_mode=True)
    except ValueError:  # binascii.Error, or a character outside ASCII
        raw_key = b""
    if len(raw_key) != _KEY_SIZE:
        raise BadRequest(f"Sec-WebSocket-Key {sent_key[:40]!r} is not 16 bytes in base64")
    reply = [
        (h.UPGRADE, "websocket"),
        (h.CONNECTION, "Upgrade"),
        (h.SEC_WEBSOCKET_ACCEPT, accept_key(key)),
    ]
    offers = h.parse_token_list(fields.get(_PROTOCOL))
    subprotocol = _select_subprotocol(offers, policy)
    if subprotocol is not None:
        reply.append((h.SEC_WEBSOCKET_PROTOCOL, subprotocol))
    deflate = None
    extensions = fields.get(_EXTENSIONS)
    if extensions and policy.deflate is not None and version is _RFC_6455:
        deflate = negotiate_deflate(h.parse_extension_offers(extensions), policy.deflate)
        if deflate is not None:
            reply.append((h.SEC_WEBSOCKET_EXTENSIONS, deflate.response_value()))
    return AcceptedHandshake(version, _HYBI_STATUS, tuple(reply), subprotocol, deflate)


def _accept_hixie(
    request: HandshakeRequest,
    version: ProtocolVersion,
    policy: HandshakePolicy,
    origin: str | None,
    host: str,
    secure: bool,
) -> AcceptedHandshake:
    target = request.target
    if not target.startswith("/"):  # absolute-form: the path and query are the resource
        path = target.partition("://")[2]
        target = "/" + path.partition("/")[2] if "/" in path else "/"
    location = f"{'wss' if secure else 'ws'}://{host}{target}"
    offered = request.headers.get(
        h.WEBSOCKET_PROTOCOL if version is ProtocolVersion.HIXIE_75 else h.SEC_WEBSOCKET_PROTOCOL
    )
    subprotocol = _select_subprotocol([offered.strip()] if offered else [], policy)
    reply = [(h.UPGRADE, "WebSocket"), (h.CONNECTION, "Upgrade")]
    if version is ProtocolVersion.HIXIE_75:
        if origin is not None:
            reply.append((h.WEBSOCKET_ORIGIN, origin))
        reply.append((h.WEBSOCKET_LOCATION, location))
        if subprotocol is not None:
            reply.append((h.WEBSOCKET_PROTOCOL, subprotocol))
        return AcceptedHandshake(version, _HIXIE_75_STATUS, tuple(reply), subprotocol)
    challenge = HixieChallenge(
        key_number(request.headers.get(h.SEC_WEBSOCKET_KEY1) or ""),
        key_number(request.headers.get(h.SEC_WEBSOCKET_KEY2) or ""),
    )
    if origin is not None:
        reply.append((h.SEC_WEBSOCKET_ORIGIN, origin))
    reply.append((h.SEC_WEBSOCKET_LOCATION, location))
    if subprotocol is not None:
        reply.append((h.SEC_WEBSOCKET_PROTOCOL, subprotocol))
    return AcceptedHandshake(
        version, _HIXIE_76_STATUS, tuple(reply), subprotocol, challenge=challenge
    )
