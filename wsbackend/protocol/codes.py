"""Close codes (RFC 6455 §7.4) and which of them may travel on the wire."""

from __future__ import annotations

import enum

__all__ = ["MAX_CLOSE_REASON_BYTES", "CloseCode", "is_sendable_close_code"]

MAX_CLOSE_REASON_BYTES = 123
"""A control frame carries at most 125 bytes, two of which are the code (RFC 6455 §5.5)."""


class CloseCode(enum.IntEnum):
    """The close codes RFC 6455 §7.4.1 defines, plus those IANA registered since."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005
    """Never on the wire: reported when a close frame carried no code."""
    ABNORMAL_CLOSURE = 1006
    """Never on the wire: reported when the TCP connection ended without a close frame."""
    INVALID_FRAME_PAYLOAD_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015
    """Never on the wire: reported when the TLS handshake failed."""


_DEFINED_ON_THE_WIRE = frozenset(
    code
    for code in CloseCode
    if code not in (CloseCode.NO_STATUS_RCVD, CloseCode.ABNORMAL_CLOSURE, CloseCode.TLS_HANDSHAKE)
)


def is_sendable_close_code(code: int) -> bool:
    """Tell whether ``code`` may appear in a close frame, sent or received.

    RFC 6455 §7.4.2: 0-999 are unused, 1000-2999 are reserved for the protocol (only the
    registered ones are valid), 3000-3999 are for libraries and frameworks, 4000-4999 for
    applications.
    """
    return code in _DEFINED_ON_THE_WIRE or 3000 <= code <= 4999
