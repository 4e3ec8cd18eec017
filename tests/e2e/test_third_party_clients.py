"""Clients nobody here wrote, against the gunicorn worker and the standalone server: the
``websockets`` and ``websocket-client`` packages and node's ``ws`` (RFC 6455 and hybi-08)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import websocket as websocket_client
from websockets.sync.client import connect

NODE_DIR = Path(__file__).resolve().parent / "node"


def test_websockets_with_permessage_deflate(server: int) -> None:
    """python-websockets negotiates permessage-deflate; compressed echo round-trips."""
    with connect(f"ws://127.0.0.1:{server}/ws", subprotocols=["echo"]) as ws:
        assert ws.subprotocol == "echo"
        extensions = ws.response.headers["Sec-WebSocket-Extensions"]
        assert extensions.startswith("permessage-deflate")
        for message in ["short", "repetitive " * 10_000, bytes(range(256)) * 100]:
            ws.send(message)
            assert ws.recv() == message
        ws.ping(b"ping!").wait(5)


def test_websockets_without_compression(server: int) -> None:
    """The same client with compression off gets no extension in the reply."""
    with connect(f"ws://127.0.0.1:{server}/", compression=None) as ws:
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        ws.send("plain")
        assert ws.recv() == "plain"


def test_websocket_client_echo_ping_close(server: int) -> None:
    """websocket-client: text, binary, ping answered by pong, clean close with 1000."""
    ws = websocket_client.create_connection(
        f"ws://127.0.0.1:{server}/ws", subprotocols=["echo"], timeout=10
    )
    try:
        assert ws.getsubprotocol() == "echo"
        ws.send("hi there")
        assert ws.recv() == "hi there"
        ws.send_binary(b"\x00\xff" * 1000)
        assert ws.recv() == b"\x00\xff" * 1000
        ws.ping(b"payload")
        opcode, frame = ws.recv_data_frame(True)
        assert opcode == websocket_client.ABNF.OPCODE_PONG
        assert frame.data == b"payload"
    finally:
        ws.close(status=1000)
    assert ws.status is None or not ws.connected


@pytest.mark.skipif(shutil.which("node") is None, reason="node is installed by .ci/run")
@pytest.mark.parametrize("version", [13, 8])
def test_node_ws_client(server: int, version: int) -> None:
    """node's ws, protocol versions 13 and 8: echo, a fragmented message, ping/pong, close."""
    completed = subprocess.run(
        ["node", "client.mjs", f"ws://127.0.0.1:{server}/ws", str(version), "echo"],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["protocol"] == "echo"
    assert result["messages"] == [
        {"text": "hello from node"},
        {"binary": 4, "sum": 261},
        {"binary": 300 * 1024, "sum": 7 * 300 * 1024},
    ]
    assert result["pong"] == "are you there"
    assert result["closeCode"] == 1000
