"""Apps chosen by subprotocol (wsbackend/application/registry.py)."""

from __future__ import annotations

import pytest

from wsbackend.application import Application, AppRegistry
from wsbackend.protocol import BadRequest


def test_first_offer_with_an_app_wins() -> None:
    chat, echo = Application(), Application()
    registry = AppRegistry({"chat": chat, "echo": echo})
    assert registry.select(["unknown", "echo", "chat"]) == "echo"
    assert registry.app_for("echo") is echo


def test_no_offer_goes_to_the_default() -> None:
    default = Application()
    registry = AppRegistry({"chat": Application()}, default=default)
    assert registry.select([]) is None
    assert registry.app_for(None) is default


def test_unserved_offers_are_refused_even_with_a_default() -> None:
    registry = AppRegistry({"chat": Application()}, default=Application())
    with pytest.raises(BadRequest, match="no application serves the offered subprotocols 'x'"):
        registry.select(["x"])


def test_no_offer_and_no_default_is_refused() -> None:
    with pytest.raises(BadRequest, match="no default application"):
        AppRegistry({"chat": Application()}).select([])


def test_register_adds_a_subprotocol() -> None:
    registry = AppRegistry()
    app = Application()
    registry.register("ticker", app)
    assert registry.subprotocols == ["ticker"]
    assert registry.select(["ticker"]) == "ticker"
