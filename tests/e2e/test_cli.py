"""``wsbackend serve`` as users run it: one line and status 2 for every mistake, before it
listens; its options reach the connections, in one process and in gunicorn's workers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect

from tests.servers import OUR_WORKER, ROOT, TIME_UNIT, free_port, gunicorn, running, wsbackend_serve


def run_cli(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "wsbackend", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60 * TIME_UNIT,
        check=False,
    )


USAGE_ERRORS = {
    "missing module": (["serve", "no_such_module:application"], "No module named"),
    "missing attribute": (["serve", "wsbackend:no_such_app"], "no attribute"),
    "missing module, 2 workers": (["serve", "--workers", "2", "no_such_module"], "No module"),
    "missing attribute, 2 workers": (["serve", "--workers", "2", "wsbackend:nope"], "nope"),
    "port alone": (["serve", "--bind", "18020"], "HOST:PORT"),
    "port too large": (["serve", "--bind", "127.0.0.1:99999"], "65535"),
    "unknown log level": (["serve", "--log-level", "verbose"], "--log-level"),
    "bad trusted proxy": (["serve", "--trusted-proxies", "10.0.0.1,nonsense"], "nonsense"),
    "missing policy file": (["serve", "--flash-policy", "/nonexistent.xml"], "nonexistent"),
    "missing certificate": (
        ["serve", "--certfile", "/nonexistent.pem", "--keyfile", "/nonexistent.key"],
        "certfile",
    ),
    "certificate without key": (["serve", "--certfile", "/nonexistent.pem"], "keyfile"),
    "no workers": (["serve", "--workers", "0"], "--workers"),
    "negative workers": (["serve", "--workers", "-3"], "--workers"),
    "bad timeout": (["serve", "--ping-timeout", "soon"], "--ping-timeout"),
    "unknown flag": (["serve", "--frobnicate"], "frobnicate"),
}


@pytest.mark.parametrize("case", USAGE_ERRORS, ids=list(USAGE_ERRORS))
def test_usage_errors_are_one_line_and_status_2(case: str) -> None:
    argv, expected = USAGE_ERRORS[case]
    bind = [] if "--bind" in argv else ["--bind", f"127.0.0.1:{free_port()}"]
    result = run_cli(*argv, *bind)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("wsbackend: error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_address_in_use_is_one_line_and_status_2(workers: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run_cli("serve", "--workers", workers, "--bind", f"127.0.0.1:{port}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "cannot listen on" in result.stderr


def test_a_bad_environment_variable_is_one_line_and_status_2() -> None:
    env = {**os.environ, "WSBACKEND_MAX_MESSAGE_SIZE": "big"}
    result = subprocess.run(
        [sys.executable, "-m", "wsbackend", "serve"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60 * TIME_UNIT, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "wsbackend: error: WSBACKEND_MAX_MESSAGE_SIZE='big': expected a whole number"
    )


def test_version_and_help() -> None:
    version = run_cli("--version")
    assert version.returncode == 0
    assert version.stdout.startswith("wsbackend ")
    help_text = run_cli("serve", "--help").stdout
    assert "``" not in help_text
    assert "--max-message-size" in help_text
    assert "WSBACKEND_" in help_text


def test_with_no_app_it_serves_the_sample_site(tmp_path: Path) -> None:
    """The default APP is the installed sample site, ``wsbackend_apps`` (see test_packaging)."""
    port = free_port()
    argv = [sys.executable, "-m", "wsbackend", "serve", "--bind", f"127.0.0.1:{port}"]
    url = f"ws://127.0.0.1:{port}/ws"
    with running(argv, port, tmp_path / "serve.log"), connect(url, subprotocols=["echo"]) as ws:  # type: ignore[list-item]
        ws.send("hello")
        assert ws.recv() == "hello"


def assert_message_limit(port: int, limit: int) -> None:
    with connect(f"ws://127.0.0.1:{port}/ws", subprotocols=["echo"], max_size=None) as ws:  # type: ignore[list-item]
        ws.send("x" * limit)
        assert ws.recv() == "x" * limit
        ws.send("x" * (limit + 1))
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


@pytest.mark.parametrize("workers", ["1", "2"])
def test_options_reach_the_connections(workers: str, tmp_path: Path) -> None:
    port = free_port()
    argv = wsbackend_serve(port, "--workers", workers, "--max-message-size", "1000")
    with running(argv, port, tmp_path / "serve.log"):
        for _ in range(4):  # likely both workers
            assert_message_limit(port, 1000)


def test_environment_reaches_a_gunicorn_command(tmp_path: Path) -> None:
    port = free_port()
    argv = gunicorn(OUR_WORKER, "apps.site:application", port, "--workers", "2")
    env = {"WSBACKEND_MAX_MESSAGE_SIZE": "500"}
    with running(argv, port, tmp_path / "gunicorn.log", env=env):
        for _ in range(4):
            assert_message_limit(port, 500)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("WSBACKEND_FLASH_POLICY", "/nonexistent.xml", "No such file"),
        ("WSBACKEND_PING_TIMEOUT", "soon", "expected seconds"),
    ],
)
def test_a_gunicorn_command_with_a_bad_variable_stops_with_one_line(
    name: str, value: str, expected: str
) -> None:
    """The worker refuses to boot, which stops gunicorn, instead of failing every connection."""
    argv = gunicorn(OUR_WORKER, "apps.site:application", free_port())
    env = {**os.environ, "PYTHONPATH": str(ROOT), name: value}
    result = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60 * TIME_UNIT, check=False
    )
    errors = [line for line in result.stderr.splitlines() if "wsbackend:" in line]
    assert result.returncode == 3
    assert len(errors) == 1
    assert name in errors[0] and expected in errors[0]
    assert "Traceback" not in result.stderr
