"""The per-connection state machine: bytes in, events out; commands in, bytes out.

Theory of operation. A transport feeds what it reads to :meth:`Endpoint.receive_data` (and
:meth:`Endpoint.receive_eof` when the peer's stream ends), then collects
:meth:`Endpoint.events_received`. A bound on the frames decoded per call keeps one read of tiny
frames from being one long stretch of work: while :attr:`Endpoint.input_pending` is true, the
transport calls :meth:`Endpoint.receive_data` with no data instead of reading. Commands
(``send_text``, ``send_close``, ...) append bytes that :meth:`Endpoint.data_to_send` hands back.
Once :attr:`Endpoint.transport_should_close` is true and those bytes are written, the transport
closes the socket: RFC 6455 §7.1.1 wants the server to close the TCP connection first. When
:meth:`Endpoint.close_expected` is true the transport arms a timer, since this layer has no clock.

States::

    AWAITING_KEY3 ──8 bytes──▶ OPEN ──send_close──▶ CLOSING ──peer's close──▶ CLOSED
    (hixie-76 only)             │                      │
                                └──peer's close, EOF, or failure──────────────▶ CLOSED

Until hixie-76's 8 key bytes arrive, whatever is sent (messages, the closing frame) is held and
leaves right after the 16-byte answer: behind a proxy, which forwards the key only after our 101,
an application commonly speaks first.

Any bad input fails the connection: the endpoint sends the close code the error carries (where
the version has close codes), reports :class:`~.events.Closed` and discards later input. A
:class:`~.events.Closed` event is reported exactly once. When bad input or the peer's close
frame follows complete messages in the same data, it waits until the transport has collected
those messages: the next :meth:`Endpoint.events_received` carries the failure or the close.
Whatever the application sends in reply to them in between leaves before our close frame, as
the peer expects (RFC 6455 §5.5.1 lets the close reply wait for the message being sent).
"""

from __future__ import annotations

import enum
import secrets
import sys

from .closing import EndpointBase, State
from .codes import CloseCode
from .deflate import DeflateConfig, PerMessageDeflate
from .errors import InvalidState, ProtocolError
from .events import Event, Ping, Pong, TextMessage
from .handshake import AcceptedHandshake, HixieChallenge
from .hixie import KEY3_SIZE, HixieClosingFrame, HixieFrameParser, challenge_response
from .hixie import encode_text as encode_hixie_text
from .hybi import (
    CloseInfo,
    Frame,
    FrameParser,
    Opcode,
    encode_frame,
    frame_header,
    frame_unmasked,
)
from .limits import DEFAULT_LIMITS, Limits
from .messages import MessageAssembler
from .versions import ProtocolVersion
from .wire import HIXIE, HYBI, WireFormat

__all__ = ["MAX_PONGS_PER_READ", "Endpoint", "Side", "State"]

MAX_PONGS_PER_READ = 16
"""Pings answered one by one per read; past them only the latest is (Autobahn 2.10 sends 10)."""


# Enum members read once (see wsbackend.protocol): the per-frame paths compare against these.
_OPEN, _CLOSED, _AWAITING_KEY3 = State.OPEN, State.CLOSED, State.AWAITING_KEY3
_TEXT, _BINARY, _CLOSE, _PING, _PONG = (
    Opcode.TEXT,
    Opcode.BINARY,
    Opcode.CLOSE,
    Opcode.PING,
    Opcode.PONG,
)


class Side(enum.Enum):
    """Which end of the connection the endpoint plays; clients mask what they send."""

    SERVER = "server"
    CLIENT = "client"


_SERVER = Side.SERVER  # read once, as the states above


class Endpoint(EndpointBase):
    """One WebSocket connection after its opening handshake, in any protocol version.

    Args:
        version: The protocol version the handshake agreed on.
        side: SERVER for a backend (the default); CLIENT for tools and tests.
        limits: Size limits for incoming frames and messages.
        deflate: The permessage-deflate codec, when negotiated (RFC 6455 only).
        challenge: For a hixie-76 server, the challenge answered once the 8 key bytes arrive.
    """

    def __init__(
        self,
        version: ProtocolVersion,
        side: Side = Side.SERVER,
        limits: Limits = DEFAULT_LIMITS,
        deflate: PerMessageDeflate | None = None,
        challenge: HixieChallenge | None = None,
    ) -> None:
        hixie = version.is_hixie
        server = side is _SERVER
        self.version = version
        self.side = side
        self.state = _AWAITING_KEY3 if challenge is not None else _OPEN
        self.close_code = None
        self.close_reason = ""
        self.failure = None
        self._pending = None
        self.input_pending = False
        self._challenge = challenge
        self._events: list[Event] = []
        self._outgoing: list[bytes] = []
        self._held: list[bytes] = []
        self.bytes_held = 0
        self._pongs: list[bytes] = []
        self._pongs_left = MAX_PONGS_PER_READ
        """Pings of the current read still answered one by one."""
        self._key3 = b""
        self._eof_to_send = False
        self._deflate = deflate
        self._mask = not server
        self._plain_frames = not hixie and server and deflate is None
        """Whether a message's frame is its payload as is behind a header: no hixie framing,
        no mask, no compression. The common server case, framed on a short path."""
        if hixie:
            self._hixie_parser: HixieFrameParser | None = HixieFrameParser(limits.max_message_size)
        else:
            self._hixie_parser = None
            self._frame_parser = FrameParser(server, deflate is not None, limits.max_frame_size)
            self._assembler = MessageAssembler(limits.max_message_size, deflate)

    @classmethod
    def for_handshake(
        cls,
        handshake: AcceptedHandshake,
        limits: Limits = DEFAULT_LIMITS,
        deflate_config: DeflateConfig | None = None,
    ) -> Endpoint:
        """The server endpoint that continues an accepted handshake."""
        deflate = None
        if handshake.deflate is not None:
            config = deflate_config or DeflateConfig()
            deflate = PerMessageDeflate(
                handshake.deflate, True, config.compression_level, config.min_size
            )
        return cls(handshake.version, _SERVER, limits, deflate, handshake.challenge)

    # -- input ---------------------------------------------------------------------------------

    def receive_data(self, data: bytes, max_frames: int = sys.maxsize) -> None:
        """Take bytes read from the peer; complete frames become events at once, up to
        ``max_frames`` of them. Past them the input is kept (see :attr:`input_pending`):
        called with empty ``data``, this goes on with it."""
        if self.state is _CLOSED or self._pending is not None:
            return
        if data:
            self._pongs_left = MAX_PONGS_PER_READ
            if self._challenge is not None:
                data = self._take_key3(data)
                if not data:
                    return
        elif not self.input_pending:
            return
        if self._hixie_parser is not None:
            self._receive_hixie(data, self._hixie_parser, max_frames)
            return
        lone = self._frame_parser.lone_message(data)
        if lone is not None:
            try:
                self._events.append(self._assembler.whole(*lone))
            except ProtocolError as exc:
                self._fail_after_messages(exc)
            return
        frames: list[Frame] = []
        error: ProtocolError | None = None
        try:
            self.input_pending = self._frame_parser.feed(data, frames, max_frames)
        except ProtocolError as exc:
            self.input_pending = False
            error = exc
        events = self._events
        process = self._assembler.process
        try:
            for frame in frames:
                if frame.opcode < _CLOSE:  # data: no state to check after it
                    message = process(frame)
                    if message is not None:
                        events.append(message)
                    continue
                self._handle_control(frame)
                if self.close_code is not None or self._pending is not None:
                    return
        except ProtocolError as exc:
            error = exc
        if error is not None:
            self._fail_after_messages(error)

    def receive_eof(self) -> None:
        """The peer's stream ended. Without a closing handshake that is 1006 (RFC 6455 §7.1.5);
        for hixie-75, which has no closing handshake, it is the normal end."""
        if self.state is State.CLOSED:
            return
        if self._pending is not None:
            self._settle(self._pending)
            return
        self._outgoing.clear()
        self._pongs.clear()
        if self.version is ProtocolVersion.HIXIE_75 and self.state is State.OPEN:
            self._closed(CloseCode.NO_STATUS_RCVD, "", clean=True)
        else:
            self._closed(CloseCode.ABNORMAL_CLOSURE, "", clean=False)

    def events_received(self) -> list[Event]:
        """The events since the last call, in order.

        A failure or close found behind complete messages is reported by the call after the one
        that returned those messages (see the module's theory of operation).
        """
        if self._pending is not None and not self._events:
            self._settle(self._pending)
        events = self._events
        self._events = []
        return events

    def _take_key3(self, data: bytes) -> bytes:
        """Collect hixie-76's 8 key bytes; answer the challenge; return what follows them."""
        needed = KEY3_SIZE - len(self._key3)
        self._key3 += data[:needed]
        if len(self._key3) < KEY3_SIZE:
            return b""
        assert self._challenge is not None
        answer = challenge_response(self._challenge.number1, self._challenge.number2, self._key3)
        self._challenge = None
        self._outgoing.append(answer)
        self._outgoing.extend(self._held)
        self._held.clear()
        self.bytes_held = 0
        self.state = State.OPEN if self.state is State.AWAITING_KEY3 else self.state
        return data[needed:]

    def _receive_hixie(self, data: bytes, parser: HixieFrameParser, max_frames: int) -> None:
        frames: list[str | HixieClosingFrame] = []
        error: ProtocolError | None = None
        try:
            self.input_pending = parser.feed(data, frames, max_frames)
        except ProtocolError as exc:
            self.input_pending = False
            error = exc
        for frame in frames:
            if isinstance(frame, HixieClosingFrame):
                self._close_after_messages(CloseInfo(CloseCode.NO_STATUS_RCVD))
                return
            if self.state is State.OPEN:
                self._events.append(TextMessage(frame))
        if error is not None:
            self._fail_after_messages(error)

    def _handle_control(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is _PING:
            if self.state is _OPEN:
                # Past a few pings per read only the latest is answered (RFC 6455 §5.5.3
                # allows it): a ping flood costs a bounded number of pongs per read.
                pongs = self._pongs
                if self._pongs_left:
                    self._pongs_left -= 1
                    pongs.append(frame.payload)
                elif pongs:
                    pongs[-1] = frame.payload
                else:  # the read's pongs went out before this part of it was decoded
                    pongs.append(frame.payload)
            self._events.append(Ping(frame.payload))
        elif opcode is _PONG:
            self._events.append(Pong(frame.payload))
        else:
            self._close_after_messages(CloseInfo.parse(frame.payload))

    # -- output --------------------------------------------------------------------------------

    def send_text(self, text: str) -> None:
        """Send a text message.

        Raises:
            InvalidState: The connection is no longer open.
        """
        self._check_open("send a message")
        self._queue(self._frame_message(text))

    def send_binary(self, data: bytes) -> None:
        """Send a binary message.

        Raises:
            InvalidState: The connection is no longer open, or it speaks hixie, which has no
                binary frames.
        """
        self._check_open("send a message")
        self._queue(self._frame_message(data))

    def frame_message(self, message: str | bytes) -> bytes:
        """The frame of one whole message, returned instead of queued: the fast path of
        :meth:`send_text` / :meth:`send_binary` for a transport that writes it after
        everything :meth:`data_to_send` returned so far.

        Raises:
            InvalidState: The connection is not open (hixie-76 before its key arrives
                included: use the send methods, which hold frames until then), or binary to
                hixie.
        """
        if self.state is not _OPEN:
            raise InvalidState(f"cannot send a message: the connection is {self.state.value}")
        if self._plain_frames:
            return frame_unmasked(message)
        return self._frame_message(message)

    def frame_message_apart(self, message: str | bytes) -> tuple[bytes, bytes]:
        """:meth:`frame_message` in two parts to write one after the other, for a large
        message: the header, then the payload object itself, so that no copy joins them. A
        frame that is not its payload verbatim (masked, compressed, hixie) comes whole in the
        second part, after an empty first.

        Raises:
            InvalidState: As :meth:`frame_message`.
        """
        if (
            self.state is not State.OPEN
            or self._hixie_parser is not None
            or self._mask
            or self._deflate is not None
        ):
            return b"", self.frame_message(message)
        if isinstance(message, str):
            message = message.encode("utf-8")
            return frame_header(Opcode.TEXT, len(message)), message
        return frame_header(Opcode.BINARY, len(message)), message

    def _frame_message(self, message: str | bytes) -> bytes:
        if self._hixie_parser is not None:
            if isinstance(message, str):
                return encode_hixie_text(message)
            raise InvalidState(f"{self.version.value} has no binary messages")
        if isinstance(message, str):
            opcode, payload = _TEXT, message.encode("utf-8")
        else:
            opcode, payload = _BINARY, message
        mask = secrets.token_bytes(4) if self._mask else None
        deflate = self._deflate
        if deflate is not None and deflate.should_compress(len(payload)):
            return encode_frame(opcode, deflate.compress(payload), True, True, mask)
        return encode_frame(opcode, payload, True, False, mask)

    def send_prepared(self, data: bytes) -> None:
        """Send a message framed once for many peers (see :attr:`wire_format`), held like the
        send methods' frames until hixie-76's answer has gone out.

        Raises:
            InvalidState: The connection is no longer open.
        """
        self._check_open("send a message")
        self._queue(data)

    def send_ping(self, payload: bytes = b"") -> None:
        """Send a ping (hybi and RFC 6455 only; hixie has no control frames).

        Raises:
            InvalidState: Not open, hixie, or a payload over 125 bytes.
        """
        self._check_open("send a ping")
        if self._hixie_parser is not None:
            raise InvalidState(f"{self.version.value} has no ping frames")
        if len(payload) > 125:
            raise InvalidState("a ping payload is at most 125 bytes")
        self._write_frame(Opcode.PING, payload)

    @property
    def wire_format(self) -> WireFormat | None:
        """The format whose pre-framed messages this endpoint's peer accepts (see
        :mod:`.wire`); None when frames cannot be shared (a client masks each frame; a
        compression context makes each message depend on the ones before)."""
        if self._hixie_parser is not None:
            return HIXIE
        if self._mask:
            return None
        if self._deflate is None:
            return HYBI
        shared = self._deflate.shared
        return None if shared is None else WireFormat(hixie=False, deflate=shared)

    def _check_open(self, action: str) -> None:
        if self.state is not State.OPEN and self.state is not State.AWAITING_KEY3:
            raise InvalidState(f"cannot {action}: the connection is {self.state.value}")
