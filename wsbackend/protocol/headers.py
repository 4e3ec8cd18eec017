"""Header names, a case-insensitive header collection, and the header grammars we parse.

Each header name the handshake reads or writes is spelled here once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .errors import BadRequest

__all__ = [
    "CONNECTION",
    "CONTENT_LENGTH",
    "HOST",
    "ORIGIN",
    "SEC_WEBSOCKET_ACCEPT",
    "SEC_WEBSOCKET_EXTENSIONS",
    "SEC_WEBSOCKET_KEY",
    "SEC_WEBSOCKET_KEY1",
    "SEC_WEBSOCKET_KEY2",
    "SEC_WEBSOCKET_LOCATION",
    "SEC_WEBSOCKET_ORIGIN",
    "SEC_WEBSOCKET_PROTOCOL",
    "SEC_WEBSOCKET_VERSION",
    "TRANSFER_ENCODING",
    "UPGRADE",
    "WEBSOCKET_LOCATION",
    "WEBSOCKET_ORIGIN",
    "WEBSOCKET_PROTOCOL",
    "ExtensionOffer",
    "Headers",
    "check_fields",
    "checked_fields",
    "parse_extension_offers",
    "parse_token_list",
]

HOST = "Host"
CONTENT_LENGTH = "Content-Length"
TRANSFER_ENCODING = "Transfer-Encoding"
UPGRADE = "Upgrade"
CONNECTION = "Connection"
ORIGIN = "Origin"
SEC_WEBSOCKET_KEY = "Sec-WebSocket-Key"
SEC_WEBSOCKET_ACCEPT = "Sec-WebSocket-Accept"
SEC_WEBSOCKET_VERSION = "Sec-WebSocket-Version"
SEC_WEBSOCKET_PROTOCOL = "Sec-WebSocket-Protocol"
SEC_WEBSOCKET_EXTENSIONS = "Sec-WebSocket-Extensions"
SEC_WEBSOCKET_ORIGIN = "Sec-WebSocket-Origin"
"""hybi-07/08's name for Origin, and hixie-76's reply header."""
SEC_WEBSOCKET_KEY1 = "Sec-WebSocket-Key1"
SEC_WEBSOCKET_KEY2 = "Sec-WebSocket-Key2"
SEC_WEBSOCKET_LOCATION = "Sec-WebSocket-Location"
WEBSOCKET_ORIGIN = "WebSocket-Origin"
WEBSOCKET_LOCATION = "WebSocket-Location"
WEBSOCKET_PROTOCOL = "WebSocket-Protocol"
"""hixie-75's subprotocol header, in the request and the reply."""


class Headers:
    """An ordered, case-insensitive multi-map of header fields.

    Repeated fields are kept; :meth:`get` joins them with ``", "`` as RFC 9110 §5.3 allows for
    list-valued fields. A handshake looks up a dozen names: the first lookup indexes the fields
    by lower-cased name, so that each lookup after it is one dictionary access.
    """

    __slots__ = ("_checked", "_fields", "_index", "_repeated")

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        self._fields: list[tuple[str, str]] = list(fields)
        self._index: dict[str, str] | None = None
        """Lower-cased name -> value, the values of a repeated name joined; made on first use."""
        self._repeated: dict[str, list[str]] = {}
        """Lower-cased name -> every value, for the names that repeat (few heads have any)."""
        self._checked = False
        """Set by :func:`check_fields` once they passed: a parsed head is checked only once."""

    def _indexed(self) -> dict[str, str]:
        fields = self._fields
        # One comprehension for the usual head, whose names are all different.
        index = self._index = {name.lower(): value for name, value in fields}
        if len(index) < len(fields):
            every: dict[str, list[str]] = {}
            for name, value in fields:
                every.setdefault(name.lower(), []).append(value)
            for key, values in every.items():
                if len(values) > 1:
                    self._repeated[key] = values
                    index[key] = ", ".join(values)
        return index

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in order."""
        key = name.lower()
        value = (self._index or self._indexed()).get(key)
        if value is None:
            return []
        repeated = self._repeated.get(key)
        return [value] if repeated is None else list(repeated)

    def get(self, name: str) -> str | None:
        """The value of ``name``, repeated fields joined, or None when absent."""
        return (self._index or self._indexed()).get(name.lower())

    def by_name(self) -> dict[str, str]:
        """Every value by lower-cased name, repeated fields joined, as :meth:`get` gives them:
        for code that looks up many names (a lookup there costs a call of :meth:`get` less).
        Read only."""
        return self._index or self._indexed()

    def first(self, name: str) -> str | None:
        """The first value of ``name``, or None when absent (what ``email.message`` gives)."""
        key = name.lower()
        value = (self._index or self._indexed()).get(key)
        repeated = None if value is None else self._repeated.get(key)
        return value if repeated is None else repeated[0]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in (self._index or self._indexed())

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"Headers({self._fields!r})"


_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TOKEN_RE = re.compile(_TOKEN)
_QUOTED_RE = re.compile(r'"((?:[^"\\]|\\.)*)"')
_FIELD_VALUE_RE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
"""RFC 9110 §5.5: visible characters, spaces, tabs and obs-text; no NUL, CR, LF or other CTL."""
_FIELD_LINES_RE = re.compile(rf"(?:{_TOKEN}:[\t\x20-\x7e\x80-\xff]*\r\n)*")
"""Field lines, each ending in CRLF, that :func:`check_fields` would accept: one pass over a
whole head instead of two matches per field."""


def check_fields(headers: Headers) -> None:
    """Refuse field names that are not tokens and values with control characters (RFC 9110
    §5.1, §5.5). A host that unfolds obs-fold leaves a CR or LF behind, refused here too.

    Raises:
        BadRequest: The first bad field.
    """
    if headers._checked:
        return
    for name, value in headers:
        if not _TOKEN_RE.fullmatch(name):
            raise BadRequest(f"invalid header name {name[:40]!r}")
        if not _FIELD_VALUE_RE.fullmatch(value):
            raise BadRequest(f"control character in header {name[:40]!r}")
    headers._checked = True


def checked_fields(block: str) -> Headers | None:
    """The fields of ``block``, field lines each ending in CRLF, already checked as
    :func:`check_fields` would; None if any line is malformed (the caller says which)."""
    if not _FIELD_LINES_RE.fullmatch(block):
        return None
    lines = [line.partition(":") for line in block.split("\r\n")[:-1]]
    headers = Headers([(name, value.strip(" \t")) for name, _, value in lines])
    headers._checked = True
    return headers


def parse_token_list(value: str | None) -> list[str]:
    """Split a comma-separated list of tokens (``Connection``, ``Sec-WebSocket-Protocol``).

    Empty elements are skipped, as RFC 9110 §5.6.1 requires of recipients.
    """
    if not value:
        return []
    tokens = []
    for element in value.split(","):
        element = element.strip()
        if element:
            if not _TOKEN_RE.fullmatch(element):
                raise BadRequest(f"invalid token {element!r} in header list")
            tokens.append(element)
    return tokens


@dataclass(frozen=True, slots=True)
class ExtensionOffer:
    """One element of ``Sec-WebSocket-Extensions``: a name and its parameters, in order.

    A parameter without a value maps to None. Quoted values are unquoted (RFC 6455 §9.1).
    """

    name: str
    params: tuple[tuple[str, str | None], ...]


class _Scanner:
    """A cursor over a header value, for the extension grammar of RFC 6455 §9.1."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise BadRequest(f"expected {char!r} at {self.pos} in {self.text!r}")
        self.pos += 1

    def token(self) -> str:
        self.skip_space()
        match = _TOKEN_RE.match(self.text, self.pos)
        if not match:
            raise BadRequest(f"expected a token at {self.pos} in {self.text!r}")
        self.pos = match.end()
        return match.group()

    def value(self) -> str:
        if self.peek() == '"':
            match = _QUOTED_RE.match(self.text, self.pos)
            if not match:
                raise BadRequest(f"unterminated quoted string in {self.text!r}")
            self.pos = match.end()
            return re.sub(r"\\(.)", r"\1", match.group(1))
        return self.token()


def parse_extension_offers(value: str | None) -> list[ExtensionOffer]:
    """Parse ``Sec-WebSocket-Extensions`` into offers, quoted parameter values included."""
    if not value:
        return []
    scanner = _Scanner(value)
    offers: list[ExtensionOffer] = []
    while True:
        while scanner.peek() == ",":
            scanner.pos += 1
        if not scanner.peek():
            return offers
        name = scanner.token()
        params: list[tuple[str, str | None]] = []
        while scanner.peek() == ";":
            scanner.pos += 1
            param = scanner.token()
            argument = None
            if scanner.peek() == "=":
                scanner.pos += 1
                argument = scanner.value()
            params.append((param, argument))
        offers.append(ExtensionOffer(name, tuple(params)))
        if scanner.peek():
            scanner.expect(",")
