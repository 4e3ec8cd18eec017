"""The opening handshake request as the core sees it, and a parser for raw request heads.

Hosts that parse HTTP themselves (gevent's pywsgi, gunicorn) build a :class:`HandshakeRequest`
from the WSGI environ; transports that hold raw bytes use :func:`parse_request_head`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import BadRequest, NotImplementedCoding, RequestHeaderTooLarge
from .headers import CONTENT_LENGTH, HOST, TRANSFER_ENCODING, Headers, check_fields, checked_fields
from .limits import DEFAULT_LIMITS, Limits

__all__ = [
    "HandshakeRequest",
    "check_head_limits",
    "check_message_framing",
    "find_head_end",
    "parse_request_head",
]

_HOST, _CONTENT_LENGTH, _TRANSFER_ENCODING = (
    name.lower() for name in (HOST, CONTENT_LENGTH, TRANSFER_ENCODING)
)
_REQUEST_LINE_RE = re.compile(
    r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e\x80-\xff]+) (HTTP/\d\.\d)"
)
"""RFC 9112 §3: method token, target, version, separated by single spaces."""


@dataclass(frozen=True, slots=True)
class HandshakeRequest:
    """An HTTP request that may ask for a WebSocket upgrade.

    Attributes:
        method: The request method, e.g. ``"GET"``.
        target: The request target as sent: path and query, e.g. ``"/chat?room=1"``.
        http_version: ``"HTTP/1.1"`` and the like.
        headers: The header fields.
    """

    method: str
    target: str
    http_version: str
    headers: Headers


def find_head_end(data: bytes | bytearray, limits: Limits = DEFAULT_LIMITS) -> int:
    """Return the index just past the blank line ending a request head, or -1 if not there yet.

    Raises:
        RequestHeaderTooLarge: No end within ``limits.max_request_head_size`` bytes.
    """
    end = data.find(b"\r\n\r\n", 0, limits.max_request_head_size + 4)
    if end == -1:
        if len(data) > limits.max_request_head_size:
            raise RequestHeaderTooLarge("request head too large")
        return -1
    return end + 4


def parse_request_head(head: bytes, limits: Limits = DEFAULT_LIMITS) -> HandshakeRequest:
    """Parse a request line and header fields (RFC 9112 §3, §5), ending with a blank line.

    Strict where the RFCs let a server refuse: a field name must be a token (so whitespace
    before the colon and obs-fold are refused), a value has no control characters but tabs.

    Raises:
        BadRequest: A malformed request line or header field.
        RequestHeaderTooLarge: Over the size or header-count limits.
    """
    if len(head) > limits.max_request_head_size + 4:
        raise RequestHeaderTooLarge("request head too large")
    text = head.decode("latin-1")
    line_end, blank = text.find("\r\n"), text.find("\r\n\r\n")
    headers = None
    if 0 <= line_end <= blank:
        headers = checked_fields(text[line_end + 2 : blank + 2])
    if headers is None:  # a malformed field (or no blank line): find it, for the message
        return _parse_strictly(text.split("\r\n"), limits)
    match = _REQUEST_LINE_RE.fullmatch(text, 0, line_end)
    if match is None:
        raise BadRequest(f"malformed request line {text[:line_end][:80]!r}")
    _check_count(len(headers), limits)
    method, target, version = match.groups()
    return HandshakeRequest(method, target, version, headers)


def _parse_strictly(lines: list[str], limits: Limits) -> HandshakeRequest:
    """:func:`parse_request_head` line by line, naming the first line that is malformed."""
    match = _REQUEST_LINE_RE.fullmatch(lines[0])
    if match is None:
        raise BadRequest(f"malformed request line {lines[0][:80]!r}")
    method, target, version = match.groups()
    fields = []
    for line in lines[1:]:
        if not line:
            break
        name, colon, value = line.partition(":")
        if not colon:
            raise BadRequest(f"malformed header line {line[:80]!r}")
        fields.append((name, value.strip(" \t")))
    _check_count(len(fields), limits)
    headers = Headers(fields)
    check_fields(headers)
    return HandshakeRequest(method, target, version, headers)


def _check_count(fields: int, limits: Limits) -> None:
    if fields > limits.max_request_headers:
        raise RequestHeaderTooLarge(f"more than {limits.max_request_headers} header fields")


def check_head_limits(request: HandshakeRequest, limits: Limits = DEFAULT_LIMITS) -> None:
    """Apply the request-head limits to a request a host parsed with limits of its own
    (gunicorn's, mod_wsgi's): its head as it was on the wire, give or take whitespace.

    Raises:
        RequestHeaderTooLarge: Over ``limits.max_request_head_size`` or
            ``limits.max_request_headers``.
    """
    fields = list(request.headers)
    if len(fields) > limits.max_request_headers:
        raise RequestHeaderTooLarge(f"more than {limits.max_request_headers} header fields")
    size = len(request.method) + len(request.target) + len(request.http_version) + 4
    size += sum(len(name) + len(value) + 4 for name, value in fields) + 2
    if size > limits.max_request_head_size:
        raise RequestHeaderTooLarge(f"request head over {limits.max_request_head_size} bytes")


def check_message_framing(request: HandshakeRequest) -> None:
    """Refuse a request whose end cannot be told for certain (RFC 9112 §3.2, §6): what a
    server and a proxy in front of it could read differently, so that the rest of one request
    passes for another (request smuggling). An HTTP/1.1 request names one Host. A
    Content-Length is digits, the same in every field that gives it. A Transfer-Encoding
    comes without a Content-Length, in HTTP/1.1, and ends in one ``chunked``, the one coding
    gevent decodes (501 for others before it).

    Raises:
        BadRequest: 400 for any of those.
        NotImplementedCoding: 501 for a transfer coding before ``chunked``.
    """
    headers = request.headers
    fields = headers.by_name()
    if request.http_version >= "HTTP/1.1":  # HTTP/d.d, as parsed: 1.1, 1.2, ...
        host = fields.get(_HOST)
        if host is None or "," in host:  # repeated fields come joined with ", "
            raise BadRequest("an HTTP/1.1 request needs exactly one Host header")
    if _CONTENT_LENGTH not in fields and _TRANSFER_ENCODING not in fields:
        return  # the usual case, and every upgrade
    lengths = headers.get_all(CONTENT_LENGTH)
    codings = headers.get_all(TRANSFER_ENCODING)
    # A list in one field (RFC 9110 §8.6 lets a recipient take "2, 2") is refused too:
    # gevent, which reads the body, takes the first field whole.
    if lengths and (len(set(lengths)) != 1 or not (lengths[0].isascii() and lengths[0].isdigit())):
        raise BadRequest(f"invalid Content-Length {', '.join(lengths)[:40]!r}")
    if not codings:
        return
    if lengths:
        raise BadRequest("both Transfer-Encoding and Content-Length")
    if request.http_version < "HTTP/1.1":
        raise BadRequest(f"Transfer-Encoding in an {request.http_version} request")
    names = [name.strip(" \t").lower() for field in codings for name in field.split(",")]
    if names[-1] != "chunked" or names.count("chunked") > 1:  # RFC 9112 §6.1: once, last
        raise BadRequest(f"Transfer-Encoding {', '.join(codings)[:40]!r} does not end in chunked")
    if len(names) > 1:
        raise NotImplementedCoding(f"Transfer-Encoding {', '.join(codings)[:40]!r}")
