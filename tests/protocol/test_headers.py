"""Header grammars (wsbackend/protocol/headers.py)."""

from __future__ import annotations

import pytest

from wsbackend.protocol import BadRequest
from wsbackend.protocol.headers import ExtensionOffer, parse_extension_offers, parse_token_list


def test_token_list() -> None:
    assert parse_token_list("keep-alive, Upgrade,,") == ["keep-alive", "Upgrade"]
    assert parse_token_list(None) == []


def test_extension_offers() -> None:
    """RFC 6455 §9.1 grammar, with a quoted value (wsproto's FIXME case)."""
    value = 'permessage-deflate; client_max_window_bits; server_max_window_bits="10", x-y, z;a=b'
    assert parse_extension_offers(value) == [
        ExtensionOffer(
            "permessage-deflate",
            (("client_max_window_bits", None), ("server_max_window_bits", "10")),
        ),
        ExtensionOffer("x-y", ()),
        ExtensionOffer("z", (("a", "b"),)),
    ]


@pytest.mark.parametrize("value", ["a;", "a b", "a;=1", 'a;b="x'])
def test_bad_extension_offers(value: str) -> None:
    with pytest.raises(BadRequest):
        parse_extension_offers(value)
