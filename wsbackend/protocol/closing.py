"""The way out of a connection, shared by every protocol version: the endpoint's state, its
outgoing queue, the closing handshake and failures.

:class:`~.endpoint.Endpoint` builds on :class:`EndpointBase`: the endpoint decodes input and
frames messages; this part queues what leaves, answers or starts a close, and reports
:class:`~.events.Closed` exactly once.
"""

from __future__ import annotations

import enum
import secrets

from .codes import CloseCode, is_sendable_close_code
from .errors import InvalidCloseCode, ProtocolError
from .events import BinaryMessage, Closed, Event, TextMessage
from .handshake import HixieChallenge
from .hixie import CLOSING_FRAME, HixieFrameParser
from .hybi import CloseInfo, Opcode, close_payload, encode_frame
from .versions import ProtocolVersion

__all__ = ["EndpointBase", "State"]


class State(enum.Enum):
    """Where the connection is in its life (RFC 6455 §4.1 / §7)."""

    AWAITING_KEY3 = "awaiting-key3"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


# Enum members read once (see wsbackend.protocol).
_OPEN, _CLOSING, _CLOSED = State.OPEN, State.CLOSING, State.CLOSED
_CLOSE, _PONG = Opcode.CLOSE, Opcode.PONG
_HIXIE_75 = ProtocolVersion.HIXIE_75


class EndpointBase:
    """The state of one connection and how it ends; see :class:`~.endpoint.Endpoint`."""

    version: ProtocolVersion
    state: State
    close_code: int | None
    """The code of the :class:`Closed` event, once reported: what ended the connection."""
    close_reason: str
    failure: ProtocolError | None
    """The error that failed the connection, for the transport's log line."""
    input_pending: bool
    """True while input already received holds more than was reported: frames past a
    ``max_frames`` bound, or a failure or the peer's close behind messages not yet
    collected. The transport should call :meth:`receive_data` with no data, then
    :meth:`events_received`, before it waits for more input."""
    bytes_held: int
    """Bytes sent before hixie-76's key arrived, held until it does: the transport counts
    them as queued."""
    _pending: ProtocolError | CloseInfo | None
    """A failure or the peer's close, held until the messages before it are collected."""
    _challenge: HixieChallenge | None
    _events: list[Event]
    _outgoing: list[bytes]
    _held: list[bytes]
    _pongs: list[bytes]
    _eof_to_send: bool
    _mask: bool
    _hixie_parser: HixieFrameParser | None

    def send_close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake (RFC 6455 §7.1.2); a second call does nothing.

        For hixie-75, which has no closing handshake, the connection is closed at once.

        Raises:
            InvalidCloseCode: ``code`` may not be sent (RFC 6455 §7.4), whatever the state.
        """
        if type(code) is bool or not isinstance(code, int) or not is_sendable_close_code(code):
            raise InvalidCloseCode(f"close code {code!r} may not be sent (RFC 6455 §7.4)")
        if self.state in (_CLOSING, _CLOSED):
            return
        if self.version is _HIXIE_75:
            self._closed(code, reason, clean=True)
            return
        self._write_close(code, reason)
        self.state = _CLOSING

    def fail(self, code: int, reason: str = "") -> None:
        """Fail the connection (RFC 6455 §7.1.7): send a close frame if we may, then close."""
        if self.state is _CLOSED:
            return
        if self.state is not _CLOSING:
            self._write_close(code, reason)
        self._closed(code, reason, clean=False)

    def data_to_send(self) -> bytes:
        """The bytes to write to the peer since the last call."""
        if self._pongs:
            self._flush_pongs()
        if not self._outgoing:
            return b""
        data = b"".join(self._outgoing) if len(self._outgoing) > 1 else self._outgoing[0]
        self._outgoing.clear()
        return data

    @property
    def output_pending(self) -> bool:
        """True while :meth:`data_to_send` has bytes or :attr:`transport_should_close` holds:
        what a transport checks after each read, since most reads (messages only) produce
        neither, and asking both cost a message three calls (~2 k instructions)."""
        return bool(self._outgoing or self._pongs or self._eof_to_send)

    @property
    def transport_should_close(self) -> bool:
        """True once the transport should close the socket after writing what is pending."""
        return self._eof_to_send

    def close_expected(self) -> bool:
        """True while we wait for the peer's close frame: the transport should arm a timer."""
        return self.state is _CLOSING

    def _write_frame(self, opcode: Opcode, payload: bytes, rsv1: bool = False) -> None:
        mask = secrets.token_bytes(4) if self._mask else None
        self._queue(encode_frame(opcode, payload, True, rsv1, mask))

    def _write_close(self, code: int, reason: str) -> None:
        if self._hixie_parser is not None:
            self._queue(CLOSING_FRAME)
        else:
            self._write_frame(_CLOSE, close_payload(code, reason))

    def _flush_pongs(self) -> None:
        pongs, self._pongs = self._pongs, []
        for pong in pongs:
            self._write_frame(_PONG, pong)

    def _queue(self, data: bytes) -> None:
        if self._pongs:
            self._flush_pongs()
        if self._challenge is not None:
            self._held.append(data)
            self.bytes_held += len(data)
        else:
            self._outgoing.append(data)

    def _fail_after_messages(self, error: ProtocolError) -> None:
        """Fail now, or once the messages already decoded have been collected.

        The error is kept without its traceback, nor the exception it was raised from (a
        ``UnicodeDecodeError``, a ``zlib.error``) with that one's: their frames hold this
        endpoint and what the failed read had buffered (up to a whole message, a deflate bomb's
        inflated output), a cycle only the garbage collector would break, long after the
        connection ended.
        """
        error = error.with_traceback(None)
        error.__context__ = error.__cause__ = None
        if self._messages_waiting():
            self._pending = error
            self.input_pending = True
        else:
            self._fail(error)

    def _close_after_messages(self, close: CloseInfo) -> None:
        """Answer the peer's close now, or once the messages already decoded have been
        collected (and perhaps answered)."""
        if self.state is _OPEN and self._messages_waiting():
            self._pending = close
            self.input_pending = True
        else:
            self._close_received(close)

    def _messages_waiting(self) -> bool:
        events = self._events
        return bool(events) and any(
            type(event) is TextMessage or type(event) is BinaryMessage for event in events
        )

    def _settle(self, pending: ProtocolError | CloseInfo) -> None:
        self._pending = None
        if isinstance(pending, CloseInfo):
            self._close_received(pending)
        else:
            self._fail(pending)

    def _close_received(self, close: CloseInfo) -> None:
        """Echo the peer's close code, unless we closed first, and report the close."""
        if self.state is _OPEN:
            self._write_close(close.code, "")
        self._closed(close.code, close.reason, clean=True)

    def _fail(self, error: ProtocolError) -> None:
        self._pending = None
        self.failure = error
        self.fail(error.close_code, str(error) if not self.version.is_hixie else "")

    def _closed(self, code: int, reason: str, clean: bool) -> None:
        self.state = _CLOSED
        self.input_pending = False
        self.close_code = code
        self.close_reason = reason
        self._eof_to_send = True
        self._events.append(Closed(code, reason, clean))
