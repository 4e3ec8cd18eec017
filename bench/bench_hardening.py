"""Attacks on one worker, wsbackend beside websockets in the same run: the worker's memory and
a second client's round trip while a hostile client attacks.

Run: ``python bench/bench_hardening.py [--seconds 6]``. Each server is one process on loopback
(``wsbackend serve`` with an echo app; websockets' asyncio echo server). For each attack a
separate process attacks while this one sends a probe message every 0.1 s on its own connection
and samples the server's RSS. Attacks, each bounded in time:

- greedy: pipelines 32-byte echo messages as fast as it can and reads the echoes;
- ping flood: sends empty pings as fast as it can and never reads;
- fragments: one 4 MiB binary message in 1-byte fragments (28 MB on the wire).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from processes import free_port, start, stop  # noqa: E402

from tests.e2e.rawclient import RawClient  # noqa: E402

ZERO_MASK = b"\x00\x00\x00\x00"
ATTACKER = r"""
import base64, os, socket, struct, sys, threading, time
port, attack, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
sock = socket.create_connection(("127.0.0.1", port))
if attack == "flood":
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
key = base64.b64encode(os.urandom(16)).decode()
sock.sendall(("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
              "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
              "\r\n" % key).encode())
head = b""
while b"\r\n\r\n" not in head:
    head += sock.recv(4096)
deadline = time.monotonic() + seconds
sock.settimeout(1.0)
def drain():
    try:
        while time.monotonic() < deadline and sock.recv(1 << 20):
            pass
    except OSError:
        pass
if attack == "greedy":
    batch = (struct.pack("!BB", 0x81, 0xA0) + bytes(4) + b"g" * 32) * 2000
    threading.Thread(target=drain, daemon=True).start()
elif attack == "flood":
    batch = (struct.pack("!BB", 0x89, 0x80) + bytes(4)) * 20000
else:
    first = struct.pack("!BB", 0x02, 0x81) + bytes(4) + b"f"
    batch = (struct.pack("!BB", 0x00, 0x81) + bytes(4) + b"f") * 20000
    sock.sendall(first)
    threading.Thread(target=drain, daemon=True).start()
sent = 0
try:
    while time.monotonic() < deadline and (attack != "fragments" or sent < 4 << 20):
        sock.sendall(batch)
        sent += 20000
    if attack == "fragments":
        sock.sendall(struct.pack("!BB", 0x80, 0x81) + bytes(4) + b"f")
        while time.monotonic() < deadline:
            time.sleep(0.1)
except OSError:
    pass
"""


def servers(port: int) -> dict[str, list[str]]:
    return {
        "wsbackend": [sys.executable, "-m", "wsbackend", "serve", "--bind",
                      f"127.0.0.1:{port}", "hardening_site:application"],
        "websockets": [sys.executable, str(ROOT / "bench" / "peers" / "websockets_echo.py"),
                       str(port)],
    }  # fmt: skip


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def probe(port: int, seconds: float, samples: list[float], failures: list[str]) -> None:
    """A well-behaved client: one echo every 0.1 s; a round trip over 10 s is a failure."""
    try:
        client = RawClient(port, timeout=10)
        assert client.hybi_handshake(13).status == 101
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and len(samples) < 10_000:
            start = time.monotonic()
            client.send_frame(0x1, b"probe")
            while client.read_message() != (0x1, b"probe"):
                pass
            samples.append(time.monotonic() - start)
            time.sleep(0.1)
        client.close()
    except (OSError, AssertionError, EOFError) as exc:
        failures.append(type(exc).__name__)


def run_attack(port: int, pid: int, attack: str, seconds: float) -> str:
    baseline = rss_mib(pid)
    attacker = subprocess.Popen([sys.executable, "-c", ATTACKER, str(port), attack, str(seconds)])
    time.sleep(0.3)
    samples: list[float] = []
    failures: list[str] = []
    prober = threading.Thread(target=probe, args=(port, seconds - 0.5, samples, failures))
    prober.start()
    peak = baseline
    while prober.is_alive():
        peak = max(peak, rss_mib(pid))
        time.sleep(0.1)
    attacker.wait(seconds + 30)
    if not samples:
        return f"| {attack} | +{peak - baseline:.0f} MB | no round trip ({failures}) |"
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    note = f", {failures[0]}" if failures else ""
    return (
        f"| {attack} | +{peak - baseline:.0f} MB | median {statistics.median(samples) * 1000:.1f}"
        f" ms, p99 {p99 * 1000:.0f} ms, max {samples[-1] * 1000:.0f} ms ({len(samples)}{note}) |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    port = free_port()
    for name, argv in servers(port).items():
        print(f"\n{name}\n| attack | worker RSS growth (peak) | second client's round trip |")
        print("|---|---:|---|")
        for attack in ("greedy", "flood", "fragments"):
            process = start(argv, port, cwd=ROOT, path=[ROOT, ROOT / "tests" / "e2e"])
            try:
                print(run_attack(port, process.pid, attack, args.seconds), flush=True)
            finally:
                stop(process)


if __name__ == "__main__":
    main()
