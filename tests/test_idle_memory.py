"""What an idle WebSocket keeps: nothing that only its handshake needed (bench/README.md,
"Idle memory", has the bytes; these are structural checks, not sizes)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.servers import ROOT, TIME_UNIT


def test_an_idle_connection_keeps_no_handshake_objects() -> None:
    """The parsed head (ours and gevent's), the accepted handshake, the transport, the
    request's buffered file, and a socket timeout's Timeout: none per idle connection."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "idle_probe.py")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60 * TIME_UNIT,
        check=True,
    )
    counts = dict(line.split() for line in result.stdout.splitlines())
    assert counts.pop("connections") == "5"
    assert counts == dict.fromkeys(counts, "0")
    assert set(counts) >= {"HandshakeRequest", "OldMessage", "BufferedReader", "Timeout"}
    assert "Traceback" not in result.stderr
