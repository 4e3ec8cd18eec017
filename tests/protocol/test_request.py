"""Raw request heads (wsbackend/protocol/request.py)."""

from __future__ import annotations

import pytest

from wsbackend.protocol import BadRequest, Limits, RequestHeaderTooLarge, parse_request_head
from wsbackend.protocol.errors import NotImplementedCoding
from wsbackend.protocol.headers import Headers, check_fields
from wsbackend.protocol.request import check_head_limits, check_message_framing, find_head_end


def test_parse() -> None:
    request = parse_request_head(b"GET /a?b HTTP/1.1\r\nHost: x\r\nX-A:  1 \r\nx-a: 2\r\n\r\n")
    assert (request.method, request.target, request.http_version) == ("GET", "/a?b", "HTTP/1.1")
    assert request.headers.get("x-A") == "1, 2"
    assert request.headers.get_all("X-A") == ["1", "2"]
    assert "host" in request.headers


@pytest.mark.parametrize(
    "head",
    [
        b"GET /\r\n\r\n",
        b"GET / HTTP/1.1 extra\r\n\r\n",
        b"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
        b"GET / HTTP/1.1\r\n Folded: x\r\n\r\n",
    ],
)
def test_malformed(head: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_request_head(head)


def test_limits() -> None:
    """Over-long heads and too many fields are 431 (RFC 6585 §5)."""
    limits = Limits(max_request_head_size=64, max_request_headers=2)
    with pytest.raises(RequestHeaderTooLarge) as info:
        parse_request_head(b"GET / HTTP/1.1\r\n" + b"A: b\r\n" * 3 + b"\r\n", limits)
    assert info.value.http_status == 431
    with pytest.raises(RequestHeaderTooLarge):
        find_head_end(b"GET / HTTP/1.1\r\n" + b"x" * 100, limits)


def test_find_head_end() -> None:
    assert find_head_end(b"GET / HTTP/1.1\r\nHost: x\r\n") == -1
    assert find_head_end(b"GET / HTTP/1.1\r\n\r\nbody") == 18


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/1.1\r\nUpgrade : websocket\r\n\r\n",
        b"GET / HTTP/1.1\r\nUpgrade\t: websocket\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: b\r\n  folded\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: b\x00c\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: b\nc\r\n\r\n",
        b"GET / HTTP/1.1\r\nA\x00: b\r\n\r\n",
        b"GET  / HTTP/1.1\r\n\r\n",
        b"GET /a\x00b HTTP/1.1\r\n\r\n",
        b"G\x00T / HTTP/1.1\r\n\r\n",
    ],
    ids=["space-before-colon", "tab-before-colon", "obs-fold", "nul-value", "cr-value",
         "lf-value", "nul-name", "double-space", "nul-target", "nul-method"],
)  # fmt: skip
def test_strict_fields(head: bytes) -> None:
    """RFC 9112 §5.1, §5.2 and RFC 9110 §5.5: what a server may refuse, we refuse."""
    with pytest.raises(BadRequest):
        parse_request_head(head)


def test_tabs_and_obs_text_in_values_are_kept() -> None:
    request = parse_request_head(b"GET / HTTP/1.1\r\nA: b\tc\xe9\r\n\r\n")
    assert request.headers.get("A") == "b\tc\xe9"


def test_check_head_limits() -> None:
    """For hosts that parsed the head themselves: the same limits, applied afterwards."""
    limits = Limits(max_request_head_size=64, max_request_headers=2)
    small = parse_request_head(b"GET / HTTP/1.1\r\nA: b\r\nC: d\r\n\r\n")
    check_head_limits(small, limits)
    with pytest.raises(RequestHeaderTooLarge, match="more than 2"):
        check_head_limits(
            parse_request_head(b"GET / HTTP/1.1\r\n" + b"A: b\r\n" * 3 + b"\r\n"), limits
        )
    with pytest.raises(RequestHeaderTooLarge, match="over 64 bytes"):
        check_head_limits(
            parse_request_head(b"GET / HTTP/1.1\r\nA: " + b"b" * 60 + b"\r\n\r\n"), limits
        )


def test_no_fields() -> None:
    request = parse_request_head(b"GET / HTTP/1.1\r\n\r\n")
    assert list(request.headers) == [] and request.headers.get("Host") is None


def test_fields_from_a_host_are_checked_after_lookups_too() -> None:
    """A head parsed here is checked once; fields a host parsed (the environ) are checked when
    the handshake asks, whatever was looked up before."""
    headers = Headers([("Host", "x"), ("A", "b\x01c"), ("a", "d")])
    assert headers.get("a") == "b\x01c, d" and "HOST" in headers and len(headers) == 3
    with pytest.raises(BadRequest):
        check_fields(headers)
    with pytest.raises(BadRequest):
        check_fields(headers)


def _framing(*fields: str, version: str = "HTTP/1.1") -> None:
    lines = [f"POST / {version}", *fields]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    check_message_framing(parse_request_head(head))


@pytest.mark.parametrize(
    ("fields", "version"),
    [
        (("Host: x",), "HTTP/1.1"),
        ((), "HTTP/1.0"),
        (("Host: x", "Content-Length: 0"), "HTTP/1.1"),
        (("Host: x", "Content-Length: 12", "content-length: 12"), "HTTP/1.1"),
        (("Host: x", "Transfer-Encoding: Chunked"), "HTTP/1.1"),
    ],
)
def test_framing_that_is_certain(fields: tuple[str, ...], version: str) -> None:
    _framing(*fields, version=version)


@pytest.mark.parametrize(
    ("fields", "version"),
    [
        ((), "HTTP/1.1"),
        (("Host: x", "Host: x"), "HTTP/1.1"),
        (("Host: x", "Content-Length: 1", "Content-Length: 2"), "HTTP/1.1"),
        (("Host: x", "Content-Length: 1,2"), "HTTP/1.1"),
        (("Host: x", "Content-Length: +1"), "HTTP/1.1"),
        (("Host: x", "Content-Length: -1"), "HTTP/1.1"),
        (("Host: x", "Content-Length: 0x1"), "HTTP/1.1"),
        (("Host: x", "Content-Length: \xb2"), "HTTP/1.1"),  # superscript two: isdigit()
        (("Host: x", "Content-Length:"), "HTTP/1.1"),
        (("Host: x", "Transfer-Encoding: chunked", "Content-Length: 3"), "HTTP/1.1"),
        (("Host: x", "Transfer-Encoding: chunked, gzip"), "HTTP/1.1"),
        (("Host: x", "Transfer-Encoding: identity"), "HTTP/1.1"),
        (("Host: x", "Transfer-Encoding: chunked, chunked"), "HTTP/1.1"),
        (("Host: x", "Content-Length: 12, 12"), "HTTP/1.1"),
        ((), "HTTP/1.2"),
        (("Transfer-Encoding: chunked",), "HTTP/1.0"),
    ],
)
def test_framing_that_is_uncertain_is_a_bad_request(fields: tuple[str, ...], version: str) -> None:
    with pytest.raises(BadRequest):
        _framing(*fields, version=version)


def test_a_coding_before_chunked_is_not_implemented() -> None:
    with pytest.raises(NotImplementedCoding) as raised:
        _framing("Host: x", "Transfer-Encoding: gzip", "Transfer-Encoding: chunked")
    assert raised.value.status_line == "501 Not Implemented"
