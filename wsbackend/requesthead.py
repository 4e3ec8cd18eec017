"""Reading one HTTP/1.1 request head from a buffered reader, bounded before it is held (the
handler's; see :mod:`wsbackend.handler` for the limits and the deadline around it)."""

from __future__ import annotations

from typing import Any, NamedTuple

from .protocol import BadRequest, HandshakeRequest, Limits, RequestHeaderTooLarge
from .protocol.request import parse_request_head

__all__ = ["RequestHead", "read_request_head", "whole_head_end"]


class RequestHead(NamedTuple):
    """A request head as :func:`read_request_head` read it."""

    request: HandshakeRequest
    read_ahead: bool
    """False when the head was all the reader held: nothing past it is buffered. (True when
    bytes followed it, or when it came in pieces and the reader cannot tell.)"""


def read_request_head(rfile: Any, limits: Limits) -> RequestHead | None:
    """Read and parse one request head from ``rfile``, never holding more than the limits allow.

    Returns None at EOF before the head starts.

    Raises:
        RequestHeaderTooLarge: Over ``limits.max_request_head_size`` or
            ``limits.max_request_headers``.
        BadRequest: A malformed or truncated head.
    """
    budget = limits.max_request_head_size
    held = rfile.peek(budget)
    end = whole_head_end(held, budget)
    if end >= 0:
        # The usual case: the whole head arrived at once; one read takes it.
        request = parse_request_head(rfile.read(end + 4), limits)
        return RequestHead(request, len(held) > end + 4)
    lines: list[bytes] = []
    size = 0
    while True:
        line = rfile.readline(budget - size + 1)
        size += len(line)
        if size > budget:
            raise RequestHeaderTooLarge(f"request head over {budget} bytes")
        if not line:
            if not lines:
                return None
            raise BadRequest("request head cut short")
        if line in (b"\r\n", b"\n"):
            if not lines:
                continue  # RFC 9112 §2.2: empty lines before the request line are ignored
            lines.append(b"\r\n")
            return RequestHead(parse_request_head(b"".join(lines), limits), True)
        if len(lines) > limits.max_request_headers:
            raise RequestHeaderTooLarge(f"more than {limits.max_request_headers} header fields")
        lines.append(line)


def whole_head_end(held: bytes, budget: int) -> int:
    """Where the blank line ending the head starts in ``held`` when ``held`` begins with a whole
    head within ``budget`` bytes, else -1 (read line by line then, under the deadline: that
    also covers the empty lines RFC 9112 lets come before a request line)."""
    end = held.find(b"\r\n\r\n", 0, budget)
    return end if end > 0 and held[:1] not in (b"\r", b"\n") else -1
