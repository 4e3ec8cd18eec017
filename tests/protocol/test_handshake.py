"""The opening handshake (wsbackend/protocol/handshake.py), every version, every refusal."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from wsbackend.protocol import (
    BadRequest,
    Endpoint,
    HandshakeError,
    HandshakePolicy,
    HandshakeRequest,
    Headers,
    ProtocolVersion,
    TextMessage,
    accept,
    is_upgrade_request,
    parse_request_head,
)
from wsbackend.protocol.deflate import DeflateConfig

RFC6455_REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)

HIXIE76_REQUEST = (
    b"GET /demo HTTP/1.1\r\n"
    b"Host: example.com\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n"
    b"Sec-WebSocket-Protocol: sample\r\n"
    b"Upgrade: WebSocket\r\n"
    b"Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n"
    b"Origin: http://example.com\r\n\r\n"
)
"""draft-hixie-thewebsocketprotocol-76 §1.3's worked example (the 8 key bytes come after)."""

HIXIE75_REQUEST = (
    b"GET /demo?x=1 HTTP/1.1\r\n"
    b"Upgrade: WebSocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Host: example.com\r\n"
    b"Origin: http://example.com\r\n"
    b"WebSocket-Protocol: sample\r\n\r\n"
)


def first_offer(offers: Sequence[str]) -> str | None:
    return offers[0] if offers else None


def with_headers(request: bytes, replace: dict[str, str | None]) -> bytes:
    """The request with header fields replaced (value) or removed (None)."""
    lines = request.decode().split("\r\n")
    head, fields = lines[0], [line for line in lines[1:] if line]
    kept = [f for f in fields if f.split(":")[0] not in replace]
    kept += [f"{name}: {value}" for name, value in replace.items() if value is not None]
    return ("\r\n".join([head, *kept]) + "\r\n\r\n").encode()


class TestRfc6455:
    def test_spec_example(self) -> None:
        """RFC 6455 §1.3: the reply to the sample request."""
        policy = HandshakePolicy(select_subprotocol=first_offer)
        handshake = accept(parse_request_head(RFC6455_REQUEST), policy)
        assert handshake.version is ProtocolVersion.RFC_6455
        assert handshake.subprotocol == "chat"
        assert handshake.response_head() == (
            b"HTTP/1.1 101 Switching Protocols\r\n"
            b"Upgrade: websocket\r\n"
            b"Connection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            b"Sec-WebSocket-Protocol: chat\r\n\r\n"
        )

    def test_no_subprotocol_selected(self) -> None:
        """Without a selector, no Sec-WebSocket-Protocol is sent back."""
        handshake = accept(parse_request_head(RFC6455_REQUEST))
        assert handshake.subprotocol is None
        assert b"Sec-WebSocket-Protocol" not in handshake.response_head()

    @pytest.mark.parametrize(
        ("version", "expected"),
        [("7", ProtocolVersion.HYBI_07), ("8", ProtocolVersion.HYBI_08)],
    )
    def test_hybi_drafts(self, version: str, expected: ProtocolVersion) -> None:
        """hybi-07/08 send Sec-WebSocket-Origin; the reply is RFC 6455's."""
        request = with_headers(
            RFC6455_REQUEST,
            {"Sec-WebSocket-Version": version, "Origin": None, "Sec-WebSocket-Origin": "http://a"},
        )
        seen = []
        policy = HandshakePolicy(check_origin=lambda origin, _: seen.append(origin) is None)
        handshake = accept(parse_request_head(request), policy)
        assert handshake.version is expected
        assert seen == ["http://a"]

    def test_extra_headers(self) -> None:
        """The integration layer adds Date/Server; the core never does."""
        head = accept(parse_request_head(RFC6455_REQUEST)).response_head([("Server", "x")])
        assert head.endswith(b"Server: x\r\n\r\n")

    def test_deflate_negotiated(self) -> None:
        """RFC 7692: the first acceptable offer is answered in the reply."""
        request = with_headers(
            RFC6455_REQUEST,
            {"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"},
        )
        handshake = accept(parse_request_head(request))
        assert handshake.deflate is not None
        assert b"Sec-WebSocket-Extensions: permessage-deflate\r\n" in handshake.response_head()

    def test_deflate_disabled(self) -> None:
        request = with_headers(RFC6455_REQUEST, {"Sec-WebSocket-Extensions": "permessage-deflate"})
        assert accept(parse_request_head(request), HandshakePolicy(deflate=None)).deflate is None


class TestRefusals:
    """Each refusal carries the status (and headers) of its reply."""

    @pytest.mark.parametrize(
        ("replace", "status", "message"),
        [
            ({"Sec-WebSocket-Version": "12"}, 426, "unsupported Sec-WebSocket-Version"),
            ({"Sec-WebSocket-Version": None}, 426, "without Sec-WebSocket-Version"),
            ({"Upgrade": None}, 400, "Upgrade"),
            ({"Connection": "keep-alive"}, 400, "Connection: Upgrade"),
            ({"Host": None}, 400, "Host"),
            ({"Sec-WebSocket-Key": "short"}, 400, "not 16 bytes"),
            ({"Sec-WebSocket-Key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, 400, "not 16 bytes"),
            ({"Sec-WebSocket-Protocol": "bad token"}, 400, "invalid token"),
            ({"Sec-WebSocket-Extensions": 'x; a="unterminated'}, 400, "quoted"),
        ],
    )
    def test_bad_request(self, replace: dict[str, str | None], status: int, message: str) -> None:
        with pytest.raises(HandshakeError, match=message) as info:
            accept(parse_request_head(with_headers(RFC6455_REQUEST, replace)))
        assert info.value.http_status == status

    @pytest.mark.parametrize(
        ("keys", "message"),
        [
            (b"", "missing or repeated"),
            (b"Sec-WebSocket-Key: a\r\nSec-WebSocket-Key: b\r\n", "missing or repeated"),
            (b"Sec-WebSocket-Key: dGhlIHNhbX,BsZSBub25jZQ==\r\n", "not 16 bytes"),
        ],
    )
    def test_key_missing_repeated_or_not_base64(self, keys: bytes, message: str) -> None:
        """One key is read from the joined fields: repeats and a comma in one key still
        get their own refusals."""
        request = with_headers(RFC6455_REQUEST, {"Sec-WebSocket-Key": None})
        request = request.replace(b"\r\n\r\n", b"\r\n" + keys + b"\r\n")
        with pytest.raises(HandshakeError, match=message):
            accept(parse_request_head(request))

    def test_426_lists_versions(self) -> None:
        """RFC 6455 §4.4: the reply names the versions we speak."""
        request = with_headers(RFC6455_REQUEST, {"Sec-WebSocket-Version": "99"})
        with pytest.raises(HandshakeError) as info:
            accept(parse_request_head(request))
        assert info.value.headers == (("Sec-WebSocket-Version", "13, 8, 7"),)
        assert info.value.status_line == "426 Upgrade Required"

    def test_method(self) -> None:
        """Only GET upgrades; the reply says so with Allow."""
        request = RFC6455_REQUEST.replace(b"GET", b"POST", 1)
        with pytest.raises(HandshakeError) as info:
            accept(parse_request_head(request))
        assert (info.value.http_status, info.value.headers) == (405, (("Allow", "GET"),))

    def test_http_1_0(self) -> None:
        request = RFC6455_REQUEST.replace(b"HTTP/1.1", b"HTTP/1.0", 1)
        with pytest.raises(HandshakeError, match=r"HTTP/1\.1") as info:
            accept(parse_request_head(request))
        assert info.value.http_status == 400

    @pytest.mark.parametrize("request_bytes", [RFC6455_REQUEST, HIXIE76_REQUEST, HIXIE75_REQUEST])
    def test_origin_refused(self, request_bytes: bytes) -> None:
        """The origin hook refuses with 403, in every version."""
        policy = HandshakePolicy(check_origin=lambda origin, _: origin == "https://good")
        with pytest.raises(HandshakeError, match="origin") as info:
            accept(parse_request_head(request_bytes), policy)
        assert info.value.http_status == 403

    def test_selector_may_refuse(self) -> None:
        """A subprotocol selector raises a HandshakeError to refuse an offer."""
        from wsbackend.protocol import BadRequest

        def refuse(offers: Sequence[str]) -> str | None:
            raise BadRequest(f"no application for {list(offers)}")

        with pytest.raises(BadRequest, match="no application"):
            accept(parse_request_head(RFC6455_REQUEST), HandshakePolicy(select_subprotocol=refuse))

    @pytest.mark.parametrize("key", ["nospaces123", "   ", "1 2 3 4", "8589934592 "])
    def test_hixie76_bad_keys(self, key: str) -> None:
        """A key that does not divide into a 32-bit number is a bad request."""
        with pytest.raises(HandshakeError) as info:
            accept(parse_request_head(with_headers(HIXIE76_REQUEST, {"Sec-WebSocket-Key1": key})))
        assert info.value.http_status == 400


class TestHixie:
    def test_hixie76_spec_example(self) -> None:
        """draft-76's worked example: reply head, then the 16-byte answer after the key bytes."""
        policy = HandshakePolicy(select_subprotocol=first_offer)
        handshake = accept(parse_request_head(HIXIE76_REQUEST), policy)
        assert handshake.version is ProtocolVersion.HIXIE_76
        assert handshake.response_head() == (
            b"HTTP/1.1 101 WebSocket Protocol Handshake\r\n"
            b"Upgrade: WebSocket\r\n"
            b"Connection: Upgrade\r\n"
            b"Sec-WebSocket-Origin: http://example.com\r\n"
            b"Sec-WebSocket-Location: ws://example.com/demo\r\n"
            b"Sec-WebSocket-Protocol: sample\r\n\r\n"
        )
        endpoint = Endpoint.for_handshake(handshake)
        endpoint.receive_data(b"^n:ds[4U")
        assert endpoint.data_to_send() == b"8jKS'y:G*Co,Wxa-"

    def test_hixie75(self) -> None:
        """hixie-75: WebSocket-Origin / WebSocket-Location, the target kept whole."""
        policy = HandshakePolicy(select_subprotocol=first_offer)
        handshake = accept(parse_request_head(HIXIE75_REQUEST), policy, secure=True)
        assert handshake.version is ProtocolVersion.HIXIE_75
        assert handshake.response_head() == (
            b"HTTP/1.1 101 Web Socket Protocol Handshake\r\n"
            b"Upgrade: WebSocket\r\n"
            b"Connection: Upgrade\r\n"
            b"WebSocket-Origin: http://example.com\r\n"
            b"WebSocket-Location: wss://example.com/demo?x=1\r\n"
            b"WebSocket-Protocol: sample\r\n\r\n"
        )
        endpoint = Endpoint.for_handshake(handshake)
        endpoint.receive_data(b"\x00hi\xff")
        assert endpoint.events_received() == [TextMessage("hi")]


def test_deflate_config_passed_to_endpoint() -> None:
    """The endpoint compresses with the server's configured threshold."""
    request = with_headers(RFC6455_REQUEST, {"Sec-WebSocket-Extensions": "permessage-deflate"})
    handshake = accept(parse_request_head(request))
    endpoint = Endpoint.for_handshake(handshake, deflate_config=DeflateConfig(min_size=10))
    endpoint.send_text("short")
    assert endpoint.data_to_send()[0] == 0x81
    endpoint.send_text("long enough to compress")
    assert endpoint.data_to_send()[0] == 0xC1


def rfc6455_with(fields: dict[str, str]) -> HandshakeRequest:
    """RFC 6455's example with ``fields`` replaced, as a host that parsed it hands it over
    (values may hold what :func:`with_headers` cannot encode)."""
    example = parse_request_head(with_headers(RFC6455_REQUEST, dict.fromkeys(fields)))
    headers = Headers([*example.headers, *fields.items()])
    return HandshakeRequest(example.method, example.target, example.http_version, headers)


class TestStrictUpgrade:
    """What websockets refuses, and RFC 6455 / 9110 / 9112 let a server refuse."""

    @pytest.mark.parametrize(
        ("replace", "message"),
        [
            ({"Content-Length": "5"}, "Content-Length"),
            ({"Content-Length": "x"}, "Content-Length"),
            ({"Transfer-Encoding": "chunked"}, "Transfer-Encoding"),
            ({"Transfer-Encoding": "chunked", "Content-Length": "0"}, "Transfer-Encoding"),
            ({"Origin": "http://a\rb"}, "control character"),
            ({"Sec-WebSocket-Protocol": "chat\x00"}, "control character"),
            ({"Host": "a b"}, "invalid Host"),
            ({"Host": "user@host"}, "invalid Host"),
            ({"Host": "host/path"}, "invalid Host"),
            ({"Host": "[::1"}, "invalid Host"),
            ({"Host": "host:80:80"}, "invalid Host"),
            ({"Host": "host:123456"}, "invalid Host"),
        ],
    )
    def test_refused(self, replace: dict[str, str | None], message: str) -> None:
        with pytest.raises(HandshakeError, match=message) as info:
            accept(rfc6455_with(replace))
        assert info.value.http_status == 400

    def test_key_outside_ascii(self) -> None:
        """base64 raised ValueError, not binascii.Error, for a latin-1 character: a 500."""
        with pytest.raises(HandshakeError, match="not 16 bytes") as info:
            accept(rfc6455_with({"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=\u00b2"}))
        assert info.value.http_status == 400

    def test_empty_body_allowed(self) -> None:
        request = with_headers(RFC6455_REQUEST, {"Content-Length": "0"})
        assert accept(parse_request_head(request)).status == "101 Switching Protocols"

    @pytest.mark.parametrize(
        ("upgrade", "expected"),
        [
            ("websocket", True),
            ("WebSocket", True),
            ("h2c, websocket", True),
            ("notwebsocket", False),
            ("websocketx", False),
            ("websocket/13", False),
        ],
    )
    def test_upgrade_is_a_token_list(self, upgrade: str, expected: bool) -> None:
        request = parse_request_head(with_headers(RFC6455_REQUEST, {"Upgrade": upgrade}))
        assert is_upgrade_request(request) is expected

    @pytest.mark.parametrize("missing", ["Sec-WebSocket-Key1", "Sec-WebSocket-Key2"])
    def test_hixie76_needs_both_keys(self, missing: str) -> None:
        """Not hixie-75: a reply without the challenge's answer would never complete."""
        with pytest.raises(HandshakeError, match="Key1 and Key2") as info:
            accept(parse_request_head(with_headers(HIXIE76_REQUEST, {missing: None})))
        assert info.value.http_status == 400

    def test_hixie76_key_with_too_many_digits(self) -> None:
        """Past Python's 4300-digit limit, int() raised ValueError: now a 400."""
        key = "1 " + "9" * 5000
        with pytest.raises(HandshakeError) as info:
            accept(parse_request_head(with_headers(HIXIE76_REQUEST, {"Sec-WebSocket-Key1": key})))
        assert info.value.http_status == 400

    @pytest.mark.parametrize(
        "value",
        [
            'permessage-deflate; server_max_window_bits="\u00b2"',
            "permessage-deflate; server_max_window_bits=08",
            "permessage-deflate; client_max_window_bits=010",
            'permessage-deflate; client_max_window_bits="\u00b9\u00b2"',
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
        ],
    )
    def test_invalid_deflate_offer_is_declined(self, value: str) -> None:
        """RFC 7692 §5, §7.1.2: an offer with an invalid parameter value is declined, not
        answered with an error (and not a ValueError out of the middleware)."""
        handshake = accept(rfc6455_with({"Sec-WebSocket-Extensions": value}))
        assert handshake.deflate is None
        assert "Sec-WebSocket-Extensions" not in dict(handshake.headers)


@pytest.mark.parametrize(
    "host", ["server.example.com", "127.0.0.1:8000", "[::1]:8000", "[::1]", "xn--bcher-kva.example"]
)
def test_hosts_that_name_a_server_are_accepted(host: str) -> None:
    assert accept(rfc6455_with({"Host": host})).version is ProtocolVersion.RFC_6455


@pytest.mark.parametrize(
    ("target", "accepted"),
    [
        ("/chat", True),
        ("/chat?room=1&x=%20", True),
        ("http://server.example.com/chat", True),
        ("WSS://server.example.com/chat", True),
        ("*", False),
        ("chat", False),
        ("?x=1", False),
        ("/chat#fragment", False),
        ("ftp://server.example.com/chat", False),
    ],
)
def test_targets_a_websocket_may_have(target: str, accepted: bool) -> None:
    """RFC 6455 §3: a resource name is a path and a query, without a fragment; §4.2.1 allows
    the absolute form too."""
    example = parse_request_head(RFC6455_REQUEST)
    request = HandshakeRequest(example.method, target, example.http_version, example.headers)
    if accepted:
        accept(request)
    else:
        with pytest.raises(BadRequest, match="malformed request target"):
            accept(request)


def test_hixie_location_of_an_absolute_form_target() -> None:
    """The Location a hixie client checks is its own URL: ws://host plus the resource name,
    which an absolute-form target gives after its authority."""
    example = parse_request_head(HIXIE76_REQUEST)
    for target, resource in [("http://example.com/demo?x=1", "/demo?x=1"), ("ws://h", "/")]:
        request = HandshakeRequest(example.method, target, example.http_version, example.headers)
        reply = dict(accept(request).headers)
        assert reply["Sec-WebSocket-Location"].endswith("example.com" + resource), reply
