"""The one exception family of the protocol core.

Every error raised for bad input carries its own answer, so that a transport needs no
``isinstance`` ladder: a :class:`HandshakeError` knows the HTTP status and headers to reply with,
a :class:`ProtocolError` knows the close code to fail the connection with.

::

    WebSocketError
    ├── HandshakeError            (http_status, headers)
    │   ├── BadRequest                 400
    │   ├── Forbidden                  403
    │   ├── MethodNotAllowed           405  Allow: GET
    │   ├── UpgradeRequired            426  Sec-WebSocket-Version: 13, 8, 7
    │   └── RequestHeaderTooLarge      431
    ├── ProtocolError             (close_code)
    │   ├── InvalidFrame               1002
    │   ├── InvalidPayload             1007
    │   └── PayloadTooBig              1009
    └── InvalidState              the caller's mistake, not the peer's
        └── InvalidCloseCode           a code that may not be sent (1005, 1006, 65536...)
"""

from __future__ import annotations

from .codes import CloseCode

__all__ = [
    "BadRequest",
    "Forbidden",
    "HandshakeError",
    "InvalidCloseCode",
    "InvalidFrame",
    "InvalidPayload",
    "InvalidState",
    "MethodNotAllowed",
    "NotImplementedCoding",
    "PayloadTooBig",
    "ProtocolError",
    "RequestHeaderTooLarge",
    "UpgradeRequired",
    "WebSocketError",
]


class WebSocketError(Exception):
    """Root of every exception the protocol core raises on purpose."""


class HandshakeError(WebSocketError):
    """An opening handshake that must be refused with an HTTP response."""

    http_status: int = 400
    reason_phrase: str = "Bad Request"

    def __init__(self, message: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.headers = headers

    @property
    def status_line(self) -> str:
        """``"400 Bad Request"``, the WSGI form of the status."""
        return f"{self.http_status} {self.reason_phrase}"


class BadRequest(HandshakeError):
    """A malformed upgrade request (RFC 6455 §4.2.1)."""


class Forbidden(HandshakeError):
    """The origin or the admission policy refused the request (RFC 6455 §4.2.2)."""

    http_status = 403
    reason_phrase = "Forbidden"


class MethodNotAllowed(HandshakeError):
    """An upgrade request whose method is not GET."""

    http_status = 405
    reason_phrase = "Method Not Allowed"

    def __init__(self, message: str) -> None:
        super().__init__(message, (("Allow", "GET"),))


class UpgradeRequired(HandshakeError):
    """An unknown ``Sec-WebSocket-Version``; the reply lists ours (RFC 6455 §4.4)."""

    http_status = 426
    reason_phrase = "Upgrade Required"


class NotImplementedCoding(HandshakeError):
    """A request body in a transfer coding this server does not decode (RFC 9112 §6.1)."""

    http_status = 501
    reason_phrase = "Not Implemented"


class RequestHeaderTooLarge(HandshakeError):
    """A request head over the configured limit (RFC 6585 §5)."""

    http_status = 431
    reason_phrase = "Request Header Fields Too Large"


class ProtocolError(WebSocketError):
    """Input that fails the connection; ``close_code`` is what to send."""

    close_code: int = CloseCode.PROTOCOL_ERROR


class InvalidFrame(ProtocolError):
    """A frame that breaks the framing rules (RFC 6455 §5)."""


class InvalidPayload(ProtocolError):
    """A text message or close reason that is not UTF-8, or undecodable compressed data."""

    close_code = CloseCode.INVALID_FRAME_PAYLOAD_DATA


class PayloadTooBig(ProtocolError):
    """A frame or message over the configured size limit."""

    close_code = CloseCode.MESSAGE_TOO_BIG


class InvalidState(WebSocketError):
    """A command the endpoint cannot carry out in its current state (the caller's error)."""


class InvalidCloseCode(InvalidState):
    """A close code the application may not send: reserved for reporting (1005, 1006, 1015),
    unassigned (0-999, unregistered 1000-2999) or out of range (RFC 6455 §7.4)."""
