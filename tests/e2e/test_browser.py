"""A real browser on the sample site: headless Chromium (Debian's) loads the chat page from the
backend, and a Python client in the same room exchanges messages with it both ways."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import ClientConnection, connect

from tests.servers import free_port, running, wsbackend_serve

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium comes with .ci/run")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """wsbackend serve with the default sample site."""
    port = free_port()
    log = tmp_path_factory.mktemp("browser") / "serve.log"
    with running(wsbackend_serve(port), port, log):
        yield port


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as driver:
        instance = driver.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield instance
        instance.close()


def next_of(ws: ClientConnection, kind: str, **fields: object) -> dict[str, object]:
    for _ in range(50):
        message = json.loads(ws.recv(timeout=10))
        if message["type"] == kind and all(message.get(k) == v for k, v in fields.items()):
            return dict(message)
    raise AssertionError(f"no {kind} {fields}")


def test_chat_page_and_python_client_talk_both_ways(
    site: int, browser: object, tmp_path: Path
) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    try:
        page.goto(f"http://127.0.0.1:{site}/chat/?room=browser&nick=alice")
        page.wait_for_selector("#status:has-text('connected')", timeout=10_000)
        with connect(
            f"ws://127.0.0.1:{site}/ws?room=browser&nick=bob", subprotocols=["chat"]
        ) as bob:
            assert next_of(bob, "welcome")["members"] == ["alice", "bob"]
            page.wait_for_selector("#members li:has-text('bob')", timeout=10_000)

            page.fill("#text", "hello from the browser")
            page.click("#send")
            next_of(bob, "message", nick="alice", text="hello from the browser")

            bob.send(json.dumps({"type": "say", "text": "hello from python"}))
            page.wait_for_selector("#log :text('hello from python')", timeout=10_000)
            assert "bob: hello from python" in page.inner_text("#log")
        page.wait_for_selector("#log :text('bob left browser.')", timeout=10_000)
        page.screenshot(path=str(tmp_path / "chat.png"))
    finally:
        page.close()


def test_echo_and_cursors_pages_connect(site: int, browser: object) -> None:
    """The other sample pages load from the same origin and open their sockets."""
    page = browser.new_page()  # type: ignore[attr-defined]
    try:
        page.goto(f"http://127.0.0.1:{site}/echo/")
        page.wait_for_selector("#log :text('connected (echo)')", timeout=10_000)
        page.fill("#text", "ping through the page")
        page.press("#text", "Enter")
        page.wait_for_selector("#log :text('< ping through the page')", timeout=10_000)

        other = browser.new_page()  # type: ignore[attr-defined]
        page.goto(f"http://127.0.0.1:{site}/cursors/")
        other.goto(f"http://127.0.0.1:{site}/cursors/")
        page.wait_for_selector("#status:has-text('connected')", timeout=10_000)
        other.wait_for_selector("#status:has-text('connected')", timeout=10_000)
        other.mouse.move(200, 150)
        other.mouse.move(220, 160)
        page.wait_for_selector(".cursor", timeout=10_000)
        other.close()
    finally:
        page.close()
