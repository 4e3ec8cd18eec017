"""Reading the request head in our pywsgi handler (wsbackend/requesthead.py, handler.py):
bounded before it is held, strict, and freed without the cycle collector."""

from __future__ import annotations

import io

import pytest

from tests.servers import run_probe
from wsbackend.protocol import BadRequest, Limits, RequestHeaderTooLarge
from wsbackend.requesthead import read_request_head

LIMITS = Limits(max_request_head_size=200, max_request_headers=3)


class Source(io.BufferedReader):
    """A buffered reader that records how much the parser asked for at most."""

    largest_read = 0

    def readline(self, size: int | None = -1) -> bytes:
        self.largest_read = max(self.largest_read, size or 0)
        return super().readline(size)


def source(data: bytes) -> Source:
    return Source(io.BytesIO(data))  # type: ignore[arg-type]


def test_reads_one_head_and_leaves_the_rest() -> None:
    rfile = source(b"\r\nGET /x HTTP/1.1\r\nHost: a\r\nB: c\r\n\r\nkey3data")
    read = read_request_head(rfile, LIMITS)
    assert read is not None
    head = read.request
    assert (head.method, head.target, head.headers.get("b")) == ("GET", "/x", "c")
    assert read.read_ahead
    assert rfile.read() == b"key3data"


def test_tells_whether_anything_was_read_past_the_head() -> None:
    """The handler skips asking an empty buffer for what followed the head (a failed recv)."""
    alone = read_request_head(source(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"), LIMITS)
    followed = read_request_head(source(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nkey3data"), LIMITS)
    assert alone is not None and not alone.read_ahead
    assert followed is not None and followed.read_ahead


def test_eof_before_a_head_is_none() -> None:
    assert read_request_head(source(b""), LIMITS) is None


def test_head_cut_short_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match="cut short"):
        read_request_head(source(b"GET / HTTP/1.1\r\nHost: a\r\n"), LIMITS)


def test_size_limit_applies_while_reading() -> None:
    """A 5 MB line is refused after reading past the limit, not after holding it."""
    rfile = source(b"GET / HTTP/1.1\r\nA: " + b"x" * 5_000_000 + b"\r\n\r\n")
    with pytest.raises(RequestHeaderTooLarge) as info:
        read_request_head(rfile, LIMITS)
    assert info.value.http_status == 431
    assert rfile.largest_read <= LIMITS.max_request_head_size + 1


def test_field_count_limit() -> None:
    with pytest.raises(RequestHeaderTooLarge, match="more than 3"):
        read_request_head(source(b"GET / HTTP/1.1\r\n" + b"A: b\r\n" * 4 + b"\r\n"), LIMITS)
    head = read_request_head(source(b"GET / HTTP/1.1\r\n" + b"A: b\r\n" * 3 + b"\r\n"), LIMITS)
    assert head is not None


@pytest.mark.parametrize(
    "data",
    [b"GET / HTTP/1.1\r\nUpgrade : websocket\r\n\r\n", b"GET / HTTP/1.1\nHost: a\n\n"],
    ids=["space-before-colon", "bare-lf"],
)
def test_strict(data: bytes) -> None:
    with pytest.raises(BadRequest):
        read_request_head(source(data), LIMITS)


def test_no_request_leaves_a_cycle_behind() -> None:
    """Served, refused, timed-out and upgraded requests are freed by reference counting alone
    (the environ referred to the handler, a raised deadline to its frame): memory comes back
    when the request ends, not when the cycle collector next runs."""
    result = run_probe("handler_gc_probe.py", timeout=120)
    lines = result.stdout.splitlines()
    assert lines[:5] == [
        "HTTP/1.1 200 OK",
        "HTTP/1.1 431 Request Header Fields Too Large",
        "HTTP/1.1 431 Request Header Fields Too Large",
        "HTTP/1.1 400 Bad Request",
        "",
    ]
    assert lines[5:] == ["HTTP/1.1 101 Switching Protocols", "handlers only the collector freed: 0"]
    assert "Traceback" not in result.stderr
