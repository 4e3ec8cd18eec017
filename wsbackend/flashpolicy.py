"""Answering Flash's ``<policy-file-request/>`` on the WebSocket port (off by default).

Old browsers without WebSocket ran a Flash shim (web-socket-js) whose socket first asks the
server for a cross-domain policy: the 23 bytes ``<policy-file-request/>\\0``, with no HTTP around
them. When a policy is configured, the handler answers that request with it, followed by NUL.
"""

from __future__ import annotations

import os

__all__ = ["POLICY_ENV", "POLICY_REQUEST", "load_policy", "policy_response"]

POLICY_REQUEST = b"<policy-file-request/>\x00"
POLICY_ENV = "WSBACKEND_FLASH_POLICY"
"""Environment variable naming the policy file; how the CLI reaches forked gunicorn workers."""


def load_policy() -> bytes | None:
    """The configured policy document, or None when the responder is off."""
    path = os.environ.get(POLICY_ENV)
    if not path:
        return None
    with open(path, "rb") as policy_file:
        return policy_file.read().strip()


def policy_response(policy: bytes) -> bytes:
    """The bytes to send back: the document and its NUL terminator."""
    return policy + b"\x00"
