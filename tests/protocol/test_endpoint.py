"""The connection state machine (wsbackend/protocol/endpoint.py), for every version."""

from __future__ import annotations

import pytest

from wsbackend.protocol import (
    BinaryMessage,
    Closed,
    Endpoint,
    InvalidCloseCode,
    InvalidState,
    Limits,
    Ping,
    Pong,
    ProtocolVersion,
    Side,
    State,
    TextMessage,
)
from wsbackend.protocol.handshake import HixieChallenge
from wsbackend.protocol.hixie import key_number
from wsbackend.protocol.hybi import CloseInfo, Opcode, encode_frame

from .helpers import client_frame, feed, server

HYBI_VERSIONS = [ProtocolVersion.RFC_6455, ProtocolVersion.HYBI_08, ProtocolVersion.HYBI_07]


@pytest.mark.parametrize("version", HYBI_VERSIONS)
class TestHybiMessages:
    def test_text_echo(self, version: ProtocolVersion) -> None:
        """A masked text frame becomes a TextMessage; the reply is an unmasked frame."""
        endpoint = server(version)
        assert feed(endpoint, client_frame(Opcode.TEXT, "héllo".encode())) == [TextMessage("héllo")]
        endpoint.send_text("héllo")
        assert endpoint.data_to_send() == encode_frame(Opcode.TEXT, "héllo".encode())

    def test_binary(self, version: ProtocolVersion) -> None:
        endpoint = server(version)
        assert feed(endpoint, client_frame(Opcode.BINARY, b"\x00\xff")) == [
            BinaryMessage(b"\x00\xff")
        ]

    def test_fragments_with_ping_between(self, version: ProtocolVersion) -> None:
        """Control frames may come between fragments (§5.4); the ping is answered."""
        endpoint = server(version)
        data = (
            client_frame(Opcode.TEXT, b"Hel", fin=False)
            + client_frame(Opcode.PING, b"p")
            + client_frame(Opcode.CONTINUATION, b"lo")
        )
        assert feed(endpoint, data, chunk=3) == [Ping(b"p"), TextMessage("Hello")]
        assert endpoint.data_to_send() == encode_frame(Opcode.PONG, b"p")


def test_output_pending_tells_whether_the_transport_has_anything_to_do() -> None:
    """Messages leave nothing to write; a ping leaves its pong until it is taken; the peer's
    close leaves our answer, then the socket to close."""
    endpoint = server()
    feed(endpoint, client_frame(Opcode.TEXT, b"hi"))
    assert not endpoint.output_pending and endpoint.data_to_send() == b""
    feed(endpoint, client_frame(Opcode.PING, b"p"))
    assert endpoint.output_pending
    assert endpoint.data_to_send() == encode_frame(Opcode.PONG, b"p")
    assert not endpoint.output_pending
    feed(endpoint, client_frame(Opcode.CLOSE, b"\x03\xe8"))
    assert endpoint.output_pending and endpoint.data_to_send()
    assert endpoint.output_pending and endpoint.transport_should_close
    failed = server()
    feed(failed, encode_frame(Opcode.TEXT, b"unmasked"))
    assert failed.output_pending
    assert failed.data_to_send()[2:4] == (1002).to_bytes(2, "big")  # a close frame's code


class TestClosingHandshake:
    def test_peer_initiated(self) -> None:
        """The peer's close is echoed with its code; then the server closes TCP (§7.1.1)."""
        endpoint = server()
        events = feed(endpoint, client_frame(Opcode.CLOSE, b"\x03\xe8bye"))
        assert events == [Closed(1000, "bye", clean=True)]
        assert endpoint.data_to_send() == encode_frame(Opcode.CLOSE, b"\x03\xe8")
        assert endpoint.transport_should_close
        assert endpoint.state is State.CLOSED

    def test_peer_initiated_without_code(self) -> None:
        """An empty close is answered with an empty close and reported as 1005."""
        endpoint = server()
        assert feed(endpoint, client_frame(Opcode.CLOSE, b"")) == [Closed(1005, "", clean=True)]
        assert endpoint.data_to_send() == encode_frame(Opcode.CLOSE, b"")

    def test_server_initiated(self) -> None:
        """send_close waits in CLOSING for the peer's close; the transport arms a timer."""
        endpoint = server()
        endpoint.send_close(1001, "restart")
        assert endpoint.data_to_send() == encode_frame(Opcode.CLOSE, b"\x03\xe9restart")
        assert endpoint.close_expected()
        assert not endpoint.transport_should_close
        with pytest.raises(InvalidState):
            endpoint.send_text("late")
        events = feed(endpoint, client_frame(Opcode.CLOSE, b"\x03\xe9"))
        assert events == [Closed(1001, "", clean=True)]
        assert endpoint.data_to_send() == b""
        assert endpoint.transport_should_close

    def test_eof_is_1006(self) -> None:
        """The stream ending without a close frame is an abnormal closure."""
        endpoint = server()
        endpoint.receive_eof()
        assert endpoint.events_received() == [Closed(1006, "", clean=False)]

    def test_messages_before_the_close_can_be_answered(self) -> None:
        """A message read together with the peer's close frame is delivered first, and a
        reply sent before the transport collects events again leaves before our close."""
        endpoint = server()
        data = client_frame(Opcode.TEXT, b"last") + client_frame(Opcode.CLOSE, b"\x03\xe8")
        assert feed(endpoint, data) == [TextMessage("last")]
        assert endpoint.input_pending
        endpoint.receive_data(client_frame(Opcode.TEXT, b"after the close"))
        endpoint.send_text("last")
        assert endpoint.events_received() == [Closed(1000, "", clean=True)]
        assert endpoint.data_to_send() == encode_frame(Opcode.TEXT, b"last") + encode_frame(
            Opcode.CLOSE, b"\x03\xe8"
        )
        assert endpoint.transport_should_close

    def test_eof_after_a_held_close_reports_the_close(self) -> None:
        endpoint = server()
        endpoint.receive_data(client_frame(Opcode.TEXT, b"last") + client_frame(Opcode.CLOSE, b""))
        assert endpoint.events_received() == [TextMessage("last")]
        endpoint.receive_eof()
        assert endpoint.events_received() == [Closed(1005, "", clean=True)]

    def test_closed_reported_once(self) -> None:
        endpoint = server()
        feed(endpoint, client_frame(Opcode.CLOSE, b""))
        endpoint.receive_eof()
        endpoint.receive_data(client_frame(Opcode.TEXT, b"after"))
        assert endpoint.events_received() == []


class TestFailures:
    """Bad input fails the connection with the close code the RFC names."""

    @pytest.mark.parametrize(
        ("data", "code"),
        [
            (encode_frame(Opcode.TEXT, b"unmasked"), 1002),
            (client_frame(Opcode.CONTINUATION, b"x"), 1002),
            (client_frame(Opcode.TEXT, b"a", fin=False) + client_frame(Opcode.TEXT, b"b"), 1002),
            (client_frame(Opcode.TEXT, b"\xff"), 1007),
            (client_frame(Opcode.TEXT, "€".encode()[:2]), 1007),
            (client_frame(Opcode.CLOSE, b"\x03\xe8\xff"), 1007),
            (client_frame(Opcode.CLOSE, b"\x03"), 1002),
            (client_frame(Opcode.CLOSE, b"\x03\xed"), 1002),
            (client_frame(Opcode.TEXT, b"x", rsv1=True), 1002),
            (client_frame(Opcode.BINARY, b"x" * 2000), 1009),
        ],
    )
    def test_close_codes(self, data: bytes, code: int) -> None:
        endpoint = Endpoint(ProtocolVersion.RFC_6455, limits=Limits(max_message_size=1000))
        events = feed(endpoint, data)
        assert events == [Closed(code, str(endpoint.failure), clean=False)]
        reason = str(endpoint.failure).encode()
        assert endpoint.data_to_send() == encode_frame(
            Opcode.CLOSE, code.to_bytes(2, "big") + reason
        )
        assert endpoint.transport_should_close

    def test_fail_fast_across_fragments(self) -> None:
        """Invalid UTF-8 fails at the fragment carrying it, before the message ends (§8.1)."""
        endpoint = server()
        events = feed(endpoint, client_frame(Opcode.TEXT, b"ok", fin=False))
        assert events == []
        events = feed(endpoint, client_frame(Opcode.CONTINUATION, b"\xed\xa0", fin=False))
        assert events[0].code == 1007  # type: ignore[union-attr]

    def test_whole_message_read_alone_inside_a_fragmented_one(self) -> None:
        """A whole frame in a read of its own, in the middle of a fragmented message, fails
        with 1002 like one read together with the fragment (§5.4)."""
        endpoint = server()
        assert feed(endpoint, client_frame(Opcode.TEXT, b"a", fin=False)) == []
        events = feed(endpoint, client_frame(Opcode.TEXT, b"b"))
        assert events == [Closed(1002, str(endpoint.failure), clean=False)]

    def test_fragmented_message_too_big(self) -> None:
        """The budget counts the whole message, not each fragment."""
        endpoint = Endpoint(ProtocolVersion.RFC_6455, limits=Limits(max_message_size=10))
        data = client_frame(Opcode.BINARY, b"x" * 6, fin=False) + client_frame(0, b"x" * 6)
        assert feed(endpoint, data)[-1].code == 1009  # type: ignore[union-attr]

    def test_messages_before_error_delivered(self) -> None:
        """A good message read together with a bad frame is delivered first, and a reply sent
        before the transport collects events again leaves before the close frame."""
        endpoint = server()
        data = client_frame(Opcode.TEXT, b"first") + encode_frame(Opcode.TEXT, b"bad")
        assert feed(endpoint, data) == [TextMessage("first")]
        endpoint.send_text("first")
        events = endpoint.events_received()
        assert len(events) == 1 and isinstance(events[0], Closed) and events[0].code == 1002
        assert endpoint.data_to_send() == encode_frame(Opcode.TEXT, b"first") + encode_frame(
            Opcode.CLOSE, CloseInfo(1002, str(endpoint.failure)).serialize()
        )

    def test_input_after_a_pending_failure_is_discarded(self) -> None:
        endpoint = server()
        endpoint.receive_data(client_frame(Opcode.TEXT, b"ok") + b"\x8f\x80\x00\x00\x00\x00")
        endpoint.receive_data(client_frame(Opcode.TEXT, b"ignored"))
        assert endpoint.events_received() == [TextMessage("ok")]
        assert [type(event) for event in endpoint.events_received()] == [Closed]

    def test_eof_with_a_pending_failure_reports_the_failure(self) -> None:
        endpoint = server()
        endpoint.receive_data(client_frame(Opcode.TEXT, b"ok") + client_frame(0x3, b""))
        assert endpoint.events_received() == [TextMessage("ok")]
        endpoint.receive_eof()
        events = endpoint.events_received()
        assert isinstance(events[0], Closed) and events[0].code == 1002


SPEC_KEY1 = "4 @1  46546xW%0l 1 5"
SPEC_KEY2 = "12998 5 Y3 1  .P00"
"""The keys of draft-hixie-thewebsocketprotocol-76's worked example."""


class TestHixie76:
    def test_key3_then_frames(self) -> None:
        """The 16-byte answer goes out once the 8 key bytes arrive, before anything else sent."""
        challenge = HixieChallenge(key_number(SPEC_KEY1), key_number(SPEC_KEY2))
        endpoint = Endpoint(ProtocolVersion.HIXIE_76, challenge=challenge)
        endpoint.send_text("early")
        assert endpoint.data_to_send() == b""
        events = feed(endpoint, b"^n:ds[4U" + b"\x00hi\xff", chunk=5)
        assert events == [TextMessage("hi")]
        assert endpoint.data_to_send() == b"8jKS'y:G*Co,Wxa-" + b"\x00early\xff"

    def test_closing_handshake(self) -> None:
        """0xFF 0x00 from the client is answered with 0xFF 0x00 (draft-76 §5.3)."""
        endpoint = Endpoint(ProtocolVersion.HIXIE_76)
        assert feed(endpoint, b"\xff\x00") == [Closed(1005, "", clean=True)]
        assert endpoint.data_to_send() == b"\xff\x00"
        assert endpoint.transport_should_close

    def test_message_before_the_closing_frame_can_be_answered(self) -> None:
        endpoint = Endpoint(ProtocolVersion.HIXIE_76)
        assert feed(endpoint, b"\x00last\xff\xff\x00") == [TextMessage("last")]
        endpoint.send_text("last")
        assert endpoint.events_received() == [Closed(1005, "", clean=True)]
        assert endpoint.data_to_send() == b"\x00last\xff\xff\x00"

    def test_no_binary_or_ping(self) -> None:
        endpoint = Endpoint(ProtocolVersion.HIXIE_76)
        with pytest.raises(InvalidState):
            endpoint.send_binary(b"x")
        with pytest.raises(InvalidState):
            endpoint.send_ping()

    def test_invalid_utf8_fails(self) -> None:
        endpoint = Endpoint(ProtocolVersion.HIXIE_76)
        events = feed(endpoint, b"\x00\xc3\x28\xff")
        assert events == [Closed(1007, "", clean=False)]
        assert endpoint.data_to_send() == b"\xff\x00"


class TestHixie75:
    def test_text_and_discarded_length_frames(self) -> None:
        """Length-prefixed frames are read and discarded; other text types are dropped."""
        endpoint = Endpoint(ProtocolVersion.HIXIE_75)
        data = b"\x80\x03abc" + b"\x00one\xff" + b"\x01skip\xff" + b"\x81\x81\x01" + b"z" * 129
        assert feed(endpoint, data + b"\x00two\xff", chunk=7) == [
            TextMessage("one"),
            TextMessage("two"),
        ]

    def test_eof_is_the_normal_close(self) -> None:
        endpoint = Endpoint(ProtocolVersion.HIXIE_75)
        endpoint.receive_eof()
        assert endpoint.events_received() == [Closed(1005, "", clean=True)]

    def test_unterminated_frame_too_big(self) -> None:
        endpoint = Endpoint(ProtocolVersion.HIXIE_75, limits=Limits(max_message_size=10))
        assert feed(endpoint, b"\x00" + b"a" * 20) == [Closed(1009, "", clean=False)]


class TestClientSide:
    def test_client_masks_and_server_reads(self) -> None:
        """A CLIENT endpoint masks; a SERVER endpoint reads it back."""
        client = Endpoint(ProtocolVersion.RFC_6455, Side.CLIENT)
        client.send_text("x" * 300)
        client.send_ping(b"hb")
        data = client.data_to_send()
        assert data[1] & 0x80
        assert feed(server(), data) == [TextMessage("x" * 300), Ping(b"hb")]

    def test_pong_event(self) -> None:
        endpoint = server()
        assert feed(endpoint, client_frame(Opcode.PONG, b"x")) == [Pong(b"x")]


class TestOutgoingCloseCodes:
    """RFC 6455 §7.4: the application may not put reserved or unassigned codes on the wire."""

    @pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 2999, 5000, 65536, -1])
    @pytest.mark.parametrize("version", [*HYBI_VERSIONS, ProtocolVersion.HIXIE_75])
    def test_refused_in_every_state(self, version: ProtocolVersion, code: int) -> None:
        endpoint = server(version)
        with pytest.raises(InvalidCloseCode, match=str(code)):
            endpoint.send_close(code)
        assert endpoint.state is State.OPEN
        assert endpoint.data_to_send() == b""
        endpoint.send_close()
        with pytest.raises(InvalidCloseCode):
            endpoint.send_close(code)

    @pytest.mark.parametrize("code", ["1000", 1000.0, True, None])
    def test_not_an_integer(self, code: object) -> None:
        with pytest.raises(InvalidCloseCode):
            server().send_close(code)  # type: ignore[arg-type]

    def test_is_an_invalid_state(self) -> None:
        """One family: code that catches InvalidState (or WebSocketError) catches it too."""
        with pytest.raises(InvalidState):
            server().send_close(1006)

    @pytest.mark.parametrize("code", [1000, 1001, 1003, 1008, 1011, 1014, 3000, 4999])
    def test_allowed(self, code: int) -> None:
        endpoint = server()
        endpoint.send_close(code)
        assert endpoint.data_to_send() == encode_frame(Opcode.CLOSE, code.to_bytes(2, "big"))


class TestHixie76BeforeTheKey:
    """Behind a proxy the 8 key bytes arrive after our 101: whatever the application does
    first waits for the answer, then leaves in order."""

    def endpoint(self) -> Endpoint:
        challenge = HixieChallenge(key_number(SPEC_KEY1), key_number(SPEC_KEY2))
        return Endpoint(ProtocolVersion.HIXIE_76, challenge=challenge)

    def test_close_before_the_key(self) -> None:
        endpoint = self.endpoint()
        endpoint.send_text("bye")
        endpoint.send_close()
        assert endpoint.data_to_send() == b""
        assert endpoint.close_expected()
        assert feed(endpoint, b"^n:ds[4U", chunk=3) == []
        assert endpoint.data_to_send() == b"8jKS'y:G*Co,Wxa-" + b"\x00bye\xff" + b"\xff\x00"
        assert feed(endpoint, b"\xff\x00") == [Closed(1005, "", clean=True)]
        assert endpoint.transport_should_close

    def test_prepared_frames_are_held(self) -> None:
        endpoint = self.endpoint()
        endpoint.send_prepared(b"\x00members\xff")
        assert endpoint.data_to_send() == b""
        assert feed(endpoint, b"^n:ds[4U" + b"\x00hi\xff") == [TextMessage("hi")]
        assert endpoint.data_to_send() == b"8jKS'y:G*Co,Wxa-" + b"\x00members\xff"

    def test_the_answer_is_output_pending(self) -> None:
        """The key's answer comes with no event: output_pending is what tells the transport."""
        endpoint = self.endpoint()
        assert feed(endpoint, b"^n:ds[4U") == []
        assert endpoint.output_pending
        assert endpoint.data_to_send() == b"8jKS'y:G*Co,Wxa-"
        assert not endpoint.output_pending


def test_messages_compare_by_type_and_data() -> None:
    """Not frozen (cheaper to build), the message events still compare by value, as the tests
    and applications comparing events expect; being mutable, they are not hashable."""
    assert TextMessage("é") == TextMessage("é")
    assert TextMessage("a") != TextMessage("b")
    assert BinaryMessage(b"\x00") == BinaryMessage(b"\x00")
    assert BinaryMessage(b"a") != BinaryMessage(b"b")
    assert TextMessage("a") != BinaryMessage(b"a")
    with pytest.raises(TypeError):
        hash(TextMessage("a"))
