"""Property tests: round trips for every version, any fragmentation, any chunking; garbage in
never raises anything, and fails only with the codes the RFCs name."""

from __future__ import annotations

import contextlib
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsbackend.protocol import (
    BinaryMessage,
    Closed,
    Endpoint,
    HandshakeError,
    HandshakeRequest,
    Headers,
    Ping,
    ProtocolVersion,
    Side,
    TextMessage,
    WebSocketError,
    accept,
    parse_request_head,
)
from wsbackend.protocol.deflate import DeflateParameters, PerMessageDeflate
from wsbackend.protocol.headers import parse_extension_offers
from wsbackend.protocol.hixie import encode_text
from wsbackend.protocol.hybi import Opcode

from .helpers import client_frame

messages = st.lists(
    st.one_of(st.text(max_size=300).map(TextMessage), st.binary(max_size=300).map(BinaryMessage)),
    max_size=8,
)
cut_points = st.lists(st.integers(min_value=0, max_value=400), max_size=6)
chunk_sizes = st.integers(min_value=1, max_value=64)
HYBI = [ProtocolVersion.RFC_6455, ProtocolVersion.HYBI_08, ProtocolVersion.HYBI_07]


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given points (at least one piece, possibly empty)."""
    points = sorted({c for c in cuts if 0 < c < len(data)})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def fragment(opcode: int, payload: bytes, cuts: list[int], compressed: bool) -> bytes:
    """A message as a first frame and continuations, with a ping after every fragment."""
    pieces = split(payload, cuts)
    out = b""
    for index, piece in enumerate(pieces):
        first = index == 0
        out += client_frame(
            opcode if first else Opcode.CONTINUATION,
            piece,
            fin=index == len(pieces) - 1,
            rsv1=compressed and first,
        )
        if index < len(pieces) - 1:
            out += client_frame(Opcode.PING, b"between")
    return out


def deliver(endpoint: Endpoint, data: bytes, chunk: int) -> list[object]:
    for start in range(0, len(data), chunk):
        endpoint.receive_data(data[start : start + chunk])
    return [e for e in endpoint.events_received() if not isinstance(e, Ping)]


@given(st.sampled_from(HYBI), messages, cut_points, chunk_sizes)
def test_hybi_round_trip(
    version: ProtocolVersion, sent: list[TextMessage | BinaryMessage], cuts: list[int], chunk: int
) -> None:
    """Fragmented messages with pings between fragments, read in any chunks, come out whole."""
    data = b""
    for message in sent:
        if isinstance(message, TextMessage):
            data += fragment(Opcode.TEXT, message.data.encode(), cuts, False)
        else:
            data += fragment(Opcode.BINARY, message.data, cuts, False)
    assert deliver(Endpoint(version), data, chunk) == sent


@given(messages, cut_points, chunk_sizes, st.booleans())
def test_deflate_round_trip(
    sent: list[TextMessage | BinaryMessage], cuts: list[int], chunk: int, takeover: bool
) -> None:
    """Compressed messages, fragmented after compression, with or without context takeover."""
    params = DeflateParameters(client_no_context_takeover=not takeover)
    compressor = PerMessageDeflate(params, is_server=False)
    data = b""
    for message in sent:
        raw = message.data.encode() if isinstance(message, TextMessage) else message.data
        opcode = Opcode.TEXT if isinstance(message, TextMessage) else Opcode.BINARY
        data += fragment(opcode, compressor.compress(raw), cuts, True)
    server = Endpoint(ProtocolVersion.RFC_6455, deflate=PerMessageDeflate(params))
    assert deliver(server, data, chunk) == sent


@given(messages, st.booleans())
def test_server_to_client_round_trip(
    sent: list[TextMessage | BinaryMessage], compress: bool
) -> None:
    """What the server sends, a client endpoint reads back."""
    params = DeflateParameters()
    server = Endpoint(
        ProtocolVersion.RFC_6455, deflate=PerMessageDeflate(params) if compress else None
    )
    client = Endpoint(
        ProtocolVersion.RFC_6455,
        Side.CLIENT,
        deflate=PerMessageDeflate(params, is_server=False) if compress else None,
    )
    for message in sent:
        if isinstance(message, TextMessage):
            server.send_text(message.data)
        else:
            server.send_binary(message.data)
    client.receive_data(server.data_to_send())
    assert client.events_received() == sent


@given(
    st.sampled_from([ProtocolVersion.HIXIE_75, ProtocolVersion.HIXIE_76]),
    st.lists(st.text(max_size=200), max_size=8),
    chunk_sizes,
)
def test_hixie_round_trip(version: ProtocolVersion, texts: list[str], chunk: int) -> None:
    data = b"".join(encode_text(text) for text in texts)
    assert deliver(Endpoint(version), data, chunk) == [TextMessage(t) for t in texts]


FAILURE_CODES = {1002, 1007, 1009}


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(list(ProtocolVersion)), st.binary(max_size=2000), chunk_sizes, st.booleans())
def test_garbage_never_raises(
    version: ProtocolVersion, data: bytes, chunk: int, deflate: bool
) -> None:
    """Arbitrary input never raises; the connection fails only with the codes the RFC names."""
    codec = PerMessageDeflate(DeflateParameters()) if deflate and not version.is_hixie else None
    endpoint = Endpoint(version, deflate=codec)
    for start in range(0, len(data), chunk):
        endpoint.receive_data(data[start : start + chunk])
    endpoint.receive_eof()
    closed = [e for e in endpoint.events_received() if isinstance(e, Closed)]
    assert len(closed) == 1
    assert (
        closed[0].code
        in FAILURE_CODES | {1000, 1001, 1003, 1005, 1006, 1008, 1010, 1011, 1012, 1013, 1014}
        or 3000 <= closed[0].code < 5000
    )


@given(st.binary(max_size=500))
def test_garbage_request_heads(data: bytes) -> None:
    """parse_request_head raises nothing but the core's own errors."""
    with contextlib.suppress(WebSocketError):
        parse_request_head(data + b"\r\n\r\n")


header_names = st.sampled_from(
    [
        "Host",
        "Upgrade",
        "Connection",
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Key1",
        "Sec-WebSocket-Key2",
        "Sec-WebSocket-Protocol",
        "Sec-WebSocket-Extensions",
        "Origin",
        "WebSocket-Protocol",
    ]
)


@given(st.lists(st.tuples(header_names, st.text(max_size=40)), max_size=12))
def test_garbage_handshakes(fields: list[tuple[str, str]]) -> None:
    """Any header values: accept either succeeds or raises a HandshakeError."""
    base = [("Host", "h"), ("Upgrade", "websocket"), ("Connection", "upgrade")]
    request = HandshakeRequest("GET", "/", "HTTP/1.1", Headers(base + fields))
    with contextlib.suppress(HandshakeError):
        accept(request)


deflate_param_names = st.sampled_from(
    [
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
        "x",
    ]
)
deflate_param_values = st.one_of(
    st.none(),
    st.integers(min_value=-1, max_value=20).map(str),
    st.sampled_from(["08", "010", "\u00b2", "\u00b9\u00b2", "1\u00b2", "+9", "9 ", "", "0x9"]),
    st.text(alphabet="0123456789\u00b2\u00b3\u00b9\u00bc ", min_size=1, max_size=3),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=4),
)
"""Window bits in range, out of range, with leading zeros, and in the digits ``str.isdigit``
accepts but ``int`` does not (latin-1's superscripts: what a host decodes a head with)."""


@st.composite
def extension_headers(draw: st.DrawFn) -> str:
    """Values of ``Sec-WebSocket-Extensions`` near the grammar of RFC 7692 §7.1: the offers
    valid and invalid parameter values hide in, quoted and not."""
    offers = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        parts = [draw(st.sampled_from(["permessage-deflate", "x-other", "permessage-deflate "]))]
        for _ in range(draw(st.integers(min_value=0, max_value=4))):
            name, value = draw(deflate_param_names), draw(deflate_param_values)
            if value is None:
                parts.append(name)
            else:
                quoted = draw(st.booleans())
                parts.append(f'{name}="{value}"' if quoted else f"{name}={value}")
        offers.append("; ".join(parts))
    return ", ".join(offers)


@settings(max_examples=300, deadline=None)
@given(extension_headers())
def test_extension_offers_are_accepted_declined_or_refused(value: str) -> None:
    """Any offer: permessage-deflate with in-range parameters, declined, or a 400; never
    another exception (a superscript digit once raised ValueError out of the middleware)."""
    base = [
        ("Host", "h"),
        ("Upgrade", "websocket"),
        ("Connection", "upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Extensions", value),
    ]
    try:
        handshake = accept(HandshakeRequest("GET", "/", "HTTP/1.1", Headers(base)))
    except HandshakeError as exc:
        assert exc.http_status == 400
        return
    if handshake.deflate is not None:
        assert 8 <= handshake.deflate.server_max_window_bits <= 15
        assert 8 <= handshake.deflate.client_max_window_bits <= 15
        reply = dict(handshake.headers)["Sec-WebSocket-Extensions"]
        assert parse_extension_offers(reply)[0].name == "permessage-deflate"


@given(
    st.lists(
        st.tuples(header_names, st.text(st.characters(max_codepoint=0xFF), max_size=40)),
        max_size=6,
    ),
    st.sampled_from(["13", "8", "7", None]),
)
def test_garbage_fields_of_a_versioned_request(
    fields: list[tuple[str, str]], version: str | None
) -> None:
    """Garbage beside a valid version, so that the per-version checks are reached: accepted or
    a HandshakeError, whatever latin-1 a host decoded the head into."""
    base = [("Host", "h"), ("Upgrade", "websocket"), ("Connection", "upgrade")]
    if version is not None:
        base.append(("Sec-WebSocket-Version", version))
    request = HandshakeRequest("GET", "/", "HTTP/1.1", Headers(base + fields))
    with contextlib.suppress(HandshakeError):
        accept(request)
