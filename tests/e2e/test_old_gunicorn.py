"""The oldest gunicorn pyproject allows (21.2), under ``-k gevent``: it has no
``Unreader.take_buffered()`` (gunicorn 26.2), so hixie-76's key bytes come out of its buffer by
the fallback in wsbackend/hosts.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.e2e.rawclient import HIXIE76_ANSWER, RawClient
from tests.servers import ROOT, TIME_UNIT, free_port, running, wsbackend_serve

OLDEST = re.search(r'"gunicorn\[gevent\]>=([0-9.]+)"', (ROOT / "pyproject.toml").read_text())
assert OLDEST is not None
OLDEST_GUNICORN = OLDEST.group(1)


@pytest.fixture(scope="module")
def old_gunicorn_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A directory holding only gunicorn at the floor, put ahead of the venv's own."""
    target = tmp_path_factory.mktemp("gunicorn-oldest")
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target"]
    result = subprocess.run(
        [*pip, str(target), f"gunicorn=={OLDEST_GUNICORN}"],
        capture_output=True,
        text=True,
        timeout=300 * TIME_UNIT,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot install gunicorn {OLDEST_GUNICORN} with pip: {result.stderr[-500:]}")
    return f"{target}:{ROOT}:{ROOT / 'tests' / 'e2e'}"


@pytest.fixture(scope="module")
def old_gunicorn(old_gunicorn_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    env = {**os.environ, "PYTHONPATH": old_gunicorn_path}
    version = subprocess.run(
        [sys.executable, "-c", "import gunicorn; print(gunicorn.__version__)"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert version.startswith(OLDEST_GUNICORN)
    port = free_port()
    log = tmp_path_factory.mktemp("logs") / "gunicorn-oldest.log"
    argv = [
        sys.executable, "-m", "gunicorn", "-k", "gevent", "--bind", f"127.0.0.1:{port}",
        "--graceful-timeout", "2", "e2e_site:application",
    ]  # fmt: skip
    with running(argv, port, log, env={"PYTHONPATH": old_gunicorn_path}):
        yield port
    assert "Traceback" not in Path(log).read_text()


@pytest.mark.parametrize("key3_after_reply", [False, True], ids=["key-with-head", "key-after-101"])
def test_hixie76_under_the_oldest_gunicorn(old_gunicorn: int, key3_after_reply: bool) -> None:
    client = RawClient(old_gunicorn)
    response = client.hixie76_handshake(protocol="echo", key3_after_reply=key3_after_reply)
    assert response.status == 101
    assert response.body == HIXIE76_ANSWER
    client.send_hixie_text("through gunicorn 21.2")
    assert client.read_hixie_text() == "through gunicorn 21.2"
    client.close()


def test_rfc6455_under_the_oldest_gunicorn(old_gunicorn: int) -> None:
    with connect(f"ws://127.0.0.1:{old_gunicorn}/ws", subprotocols=["echo"]) as ws:  # type: ignore[list-item]
        ws.send("hello")
        assert ws.recv(timeout=10 * TIME_UNIT) == "hello"


def test_serve_with_workers_under_the_oldest_gunicorn(
    old_gunicorn_path: str, tmp_path: Path
) -> None:
    """``wsbackend serve --workers 2`` runs gunicorn's arbiter: one without a control socket
    (before 25.1) has no setting to turn it off, and must not be asked to."""
    port = free_port()
    argv = wsbackend_serve(port, "--workers", "2", "e2e_site:application")
    env = {"PYTHONPATH": old_gunicorn_path}
    with (
        running(argv, port, tmp_path / "serve.log", env=env),
        connect(f"ws://127.0.0.1:{port}/ws", subprotocols=["echo"]) as ws,  # type: ignore[list-item]
    ):
        ws.send("hello")
        assert ws.recv(timeout=10 * TIME_UNIT) == "hello"
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
