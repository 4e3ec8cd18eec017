"""gevent's request state and WSGI environ for a head our handler already parsed.

gevent's pywsgi handler would parse the head a second time (into an ``email.message``), look
each name up again by scanning its fields, and format and re-parse them for the environ: for
an HTTP/1.1 request without a body (every upgrade, most page requests) our handler gives it
the same state and environ from its own parse instead (see :mod:`wsbackend.handler`). Tests
hold both to what gevent builds from the same bytes.

One difference is on purpose, and older than this module: our parse trims each field value of
spaces and tabs at both ends (RFC 9110 §5.5) and of nothing else, where gevent keeps trailing
ones in its field lookups and strips any Unicode whitespace (``\xa0``, ``\x85``) from the
``HTTP_*`` values. So ``Connection: close`` followed by a space closes the connection here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from .protocol import Headers

__all__ = ["ReadFields", "add_request_keys", "environ_key"]

_NOT_HTTP_KEYS = frozenset({"CONTENT-TYPE", "CONTENT-LENGTH"})
"""Fields the WSGI environ holds under their own names (gevent sets them)."""

_ENVIRON_KEYS: dict[str, str] = {}
"""Field name as sent -> its ``HTTP_*`` environ key, or "" for a field gevent leaves out: the
same few names come with every request. Bounded by ``_MAX_ENVIRON_KEYS``, since clients choose
the names: emptied when full, so that names sent once do not keep the usual ones out."""
_MAX_ENVIRON_KEYS = 1024


def environ_key(name: str) -> str:
    """The ``HTTP_*`` environ key of field ``name``; "" for a name gevent drops (one with
    ``_``, so that ``X_Forwarded_For`` cannot pass for ``X-Forwarded-For``) or keeps under its
    own key (Content-Type, Content-Length)."""
    key = _ENVIRON_KEYS.get(name)
    if key is not None:
        return key
    upper = name.upper()
    key = "" if "_" in upper or upper in _NOT_HTTP_KEYS else "HTTP_" + upper.replace("-", "_")
    if len(_ENVIRON_KEYS) >= _MAX_ENVIRON_KEYS:
        _ENVIRON_KEYS.clear()
    _ENVIRON_KEYS[name] = key
    return key


class ReadFields:
    """What gevent's handler and gunicorn's access log use of a request's fields, over the
    head already parsed: the first value of a name, as ``email.message`` gives, looked up in
    the index the handshake uses too."""

    status = ""
    """Never set: the head was parsed without error (gevent refuses a request that sets it)."""

    def __init__(self, headers: Headers) -> None:
        self._headers = headers
        self.fields = list(headers)

    def get(self, name: str, default: str | None = None) -> str | None:
        first = self._headers.first(name)
        return default if first is None else first

    getheader = get

    def __delitem__(self, name: str) -> None:
        name = name.lower()
        self.fields = [(field, value) for field, value in self.fields if field.lower() != name]
        self._headers = Headers(self.fields)

    @property
    def typeheader(self) -> str | None:
        return self.get("Content-Type")

    def items(self) -> list[tuple[str, str]]:
        return self.fields


def add_request_keys(
    environ: dict[str, Any], method: str, target: str, fields: ReadFields, peer: Any
) -> None:
    """Add to a server's base ``environ`` the keys gevent's ``get_environ`` derives from an
    HTTP/1.1 request without a body: method, path, query, peer and fields (repeated ones
    joined as gevent joins them)."""
    path, _, query = target.partition("?")
    environ["REQUEST_METHOD"] = method
    environ["SCRIPT_NAME"] = ""
    environ["PATH_INFO"] = unquote(path, encoding="latin-1")
    environ["QUERY_STRING"] = query
    content_type = fields.typeheader
    if content_type is not None:
        environ["CONTENT_TYPE"] = content_type
    environ["SERVER_PROTOCOL"] = "HTTP/1.1"
    if isinstance(peer, tuple):
        environ["REMOTE_ADDR"] = str(peer[0])
        environ["REMOTE_PORT"] = str(peer[1])
    _add_fields(environ, fields.fields)


def _add_fields(environ: dict[str, Any], fields: Iterable[tuple[str, str]]) -> None:
    keys = _ENVIRON_KEYS
    for name, value in fields:
        key = keys.get(name)
        if key is None:
            key = environ_key(name)
        if not key:
            continue
        if key in environ:
            environ[key] += ("; " if "COOKIE" in key else ",") + value
        else:
            environ[key] = value
