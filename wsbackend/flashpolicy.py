"""Answering Flash's ``<policy-file-request/>`` on the WebSocket port (off by default).

Old browsers without WebSocket ran a Flash shim (web-socket-js) whose socket first asks the
server for a cross-domain policy: the 23 bytes ``<policy-file-request/>\\0``, with no HTTP around
them. When a policy is configured (``--flash-policy``), the handler answers that request with
it, followed by NUL.
"""

from __future__ import annotations

__all__ = ["POLICY_REQUEST", "policy_response"]

POLICY_REQUEST = b"<policy-file-request/>\x00"


def policy_response(policy: bytes) -> bytes:
    """The bytes to send back: the document and its NUL terminator."""
    return policy + b"\x00"
