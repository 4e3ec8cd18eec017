"""Attacks on one worker, wsbackend beside websockets in the same run: the worker's memory and
a second client's round trip while a hostile client attacks.

Run: ``python bench/bench_hardening.py [--seconds 8] [--rounds 2] [--attacks greedy ...]``.
Each server is one process on loopback (``wsbackend serve`` with an echo app; websockets'
asyncio echo server). For each attack a separate process attacks while this one sends a probe
message every ``--interval`` seconds on its own connection and samples the server's RSS. Rounds
alternate which server goes first, and the samples of every round are pooled: the table gives
the probe's median, p99 and max round trip per server, side by side. Attacks, each bounded in
time:

- greedy: pipelines 32-byte echo messages as fast as it can and reads the echoes;
- flood: sends empty pings as fast as it can and never reads;
- fragments: one 4 MiB binary message in 1-byte fragments (28 MB on the wire).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from processes import free_port, start, stop  # noqa: E402

from tests.e2e.rawclient import RawClient  # noqa: E402

ATTACKS = {
    "greedy": "greedy: 32 B echoes pipelined flat out",
    "flood": "ping flood, never reading",
    "fragments": "one 4 MiB message in 1-byte fragments",
}
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
# Generous: a server that reads slowly must slow the attack down, not end it.
sock.settimeout(seconds + 5)
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


@dataclass
class Outcome:
    """What the probe saw during one attack on one server, pooled over rounds."""

    samples: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    growth: float = 0.0

    def cells(self) -> str:
        if not self.samples:
            return f"+{self.growth:.0f} MB | no round trip ({self.failures})"
        ordered = sorted(self.samples)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        note = f", {len(self.failures)} failed" if self.failures else ""
        return (
            f"+{self.growth:.0f} MB | {_ms(statistics.median(ordered))} / {_ms(p99)} / "
            f"{_ms(ordered[-1])} ({len(ordered)}{note})"
        )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 0.1 else f"{seconds * 1000:.0f} ms"


def probe(port: int, seconds: float, interval: float, outcome: Outcome) -> None:
    """A well-behaved client: one echo every ``interval``; a round trip over 10 s fails."""
    try:
        client = RawClient(port, timeout=10)
        assert client.hybi_handshake(13).status == 101
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and len(outcome.samples) < 100_000:
            start = time.monotonic()
            client.send_frame(0x1, b"probe")
            while client.read_message() != (0x1, b"probe"):
                pass
            outcome.samples.append(time.monotonic() - start)
            time.sleep(interval)
        client.close()
    except (OSError, AssertionError, EOFError) as exc:
        outcome.failures.append(type(exc).__name__)


def run_attack(
    port: int, pid: int, attack: str, seconds: float, interval: float, outcome: Outcome
) -> None:
    baseline = rss_mib(pid)
    attacker = subprocess.Popen([sys.executable, "-c", ATTACKER, str(port), attack, str(seconds)])
    try:
        time.sleep(0.3)
        prober = threading.Thread(target=probe, args=(port, seconds - 0.5, interval, outcome))
        prober.start()
        peak = baseline
        while prober.is_alive():
            peak = max(peak, rss_mib(pid))
            time.sleep(0.1)
        outcome.growth = max(outcome.growth, peak - baseline)
        attacker.wait(seconds + 30)
    finally:
        if attacker.poll() is None:
            attacker.kill()
            attacker.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--attacks", nargs="+", choices=ATTACKS, default=list(ATTACKS))
    args = parser.parse_args()
    port = free_port()
    names = list(servers(port))
    outcomes = {(attack, name): Outcome() for attack in args.attacks for name in names}
    for round_number in range(args.rounds):
        order = names if round_number % 2 == 0 else names[::-1]
        for attack in args.attacks:
            for name in order:
                process = start(
                    servers(port)[name], port, cwd=ROOT, path=[ROOT, ROOT / "tests" / "e2e"]
                )
                try:
                    run_attack(
                        port,
                        process.pid,
                        attack,
                        args.seconds,
                        args.interval,
                        outcomes[attack, name],
                    )
                finally:
                    stop(process)
                print(f"round {round_number + 1}: {attack} on {name} done", file=sys.stderr)
    header = " | ".join(f"{name} RSS | {name} probe p50 / p99 / max (n)" for name in names)
    print(f"| attack | {header} |")
    print("|---|" + "---:|---|" * len(names))
    for attack in args.attacks:
        cells = " | ".join(outcomes[attack, name].cells() for name in names)
        print(f"| {ATTACKS[attack]} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
