"""What an idle WebSocket keeps: nothing that only its handshake needed (bench/README.md,
"Idle memory", has the bytes; these are structural checks, not sizes)."""

from __future__ import annotations

from tests.servers import run_probe


def test_an_idle_connection_keeps_no_handshake_objects() -> None:
    """The parsed head (ours and gevent's), the accepted handshake, the transport, the
    request's buffered file, and a socket timeout's Timeout: none per idle connection."""
    result = run_probe("idle_probe.py", timeout=60)
    counts = dict(line.split() for line in result.stdout.splitlines())
    assert counts.pop("connections") == "5"
    assert counts == dict.fromkeys(counts, "0")
    assert set(counts) >= {"HandshakeRequest", "OldMessage", "BufferedReader", "Timeout"}
    assert "Traceback" not in result.stderr
