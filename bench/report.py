"""The suite's table: medians, ratios to gevent-websocket, versions, machine, date, command."""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

BASELINE = "gevent-websocket"
START, END = "<!-- suite:start -->", "<!-- suite:end -->"
PACKAGES = {
    "wsbackend": ("wsbackend", "gunicorn", "gevent", "websockets"),
    "gevent-websocket": ("gevent-websocket",),
    "simple-websocket": ("simple-websocket",),
    "uvicorn": ("uvicorn", "uvloop", "httptools"),
    "websockets": ("websockets",),
    "picows": ("picows",),
    "raw gevent ceiling": (),
    "wsbackend HTTP floor": (),
}
CLIENT_LIMIT = 0.9
SERVER_CPU = "per_server_cpu_s"
"""The figure of a row that divides by the server's CPU time, which a slow client does not cap."""


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "missing"


@dataclass
class Results:
    """Every outcome of the run, by scenario, peer and protocol variant."""

    values: dict[tuple[str, str, str], list[float]] = field(default_factory=dict)
    notes: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def add(
        self, scenario: str, peer: str, variant: str, outcome: dict[str, Any], figure: str
    ) -> None:
        key = (scenario, peer, variant)
        if "error" in outcome:
            self.notes[key] = "failed: " + str(outcome["error"])
            return
        value = outcome[figure]
        self.values.setdefault(key, []).append(float(value))
        if "note" in outcome:
            self.notes[key] = str(outcome["note"])

    def median(self, scenario: str, peer: str, variant: str = "") -> float | None:
        found = self.values.get((scenario, peer, variant))
        return statistics.median(found) if found else None

    def cell(self, scenario: Any, name: str, peer: str, top: float | None) -> str:
        value = self.median(name, peer)
        note = self.notes.get((name, peer, ""))
        if value is None:
            return f"n/a ({note})" if note else "n/a"
        text = f"{value:,.1f}" if scenario.lower_is_better or value < 100 else f"{value:,.0f}"
        base = self.median(name, BASELINE)
        if base and not scenario.lower_is_better:
            text += f" ({value / base:.2f}x)"
        if note and note.startswith("failed"):
            text += " †"
        elif note:
            text += f" ({note})"
        by_rate = not scenario.lower_is_better and scenario.figure != SERVER_CPU
        if top and by_rate and value >= CLIENT_LIMIT * top and top > 0:
            text += " ≈"
        return text

    def markdown(
        self, scenarios: dict[str, Any], peers: list[str], args: argparse.Namespace, minutes: float
    ) -> str:
        main = [name for name in args.scenarios if not scenarios[name].peers]
        hixie = [name for name in args.scenarios if scenarios[name].peers]
        shown = [peer for peer in peers if peer in args.peers]
        lines = [
            f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on "
            f"{machine()}, CPython {platform.python_version()}, load average before the run "
            f"{args.load_before}, after {load_average()}; {minutes:.0f} min.",
            "",
            f"Command: `python bench/{' '.join(shlex.quote(a) for a in sys.argv)}`".replace(
                "bench/bench/", "bench/"
            ),
            "",
            "Versions: "
            + "; ".join(
                f"{peer}: " + ", ".join(f"{p} {version(p)}" for p in PACKAGES[peer])
                for peer in shown
                if PACKAGES[peer]
            )
            + ".",
            "",
            f"Median of {args.completed} interleaved round(s) of {args.seconds:g} s after "
            f"{args.warmup:g} s of warm-up (idle memory: {min(args.memory_rounds, args.completed)} "
            f"round(s), RSS is steady); connection counts x{args.scale:g}. In brackets: the "
            "ratio to gevent-websocket. ≈ marks figures within 10% of the best in their row: "
            "there the load client may be the limit. Rows per server CPU second divide by the "
            "serving process's own CPU time: a client that cannot keep up does not cap them, "
            "but can lower them (a server that waits on it gets fewer messages per read).",
            "",
            "| scenario | unit | " + " | ".join(shown) + " |",
            "|---|---|" + "---:|" * len(shown),
        ]
        for name in main:
            scenario = scenarios[name]
            found = [self.median(name, peer) for peer in shown]
            top = max((value for value in found if value is not None), default=None)
            cells = [self.cell(scenario, name, peer, top) for peer in shown]
            lines.append(f"| {scenario.title} | {scenario.unit} | " + " | ".join(cells) + " |")
        if hixie:
            lines += [
                "",
                "wsbackend, hixie-76 against RFC 6455, both driven by the raw-bytes "
                "client (asyncio protocols on uvloop), same run:",
                "",
                "| scenario | unit | RFC 6455 | hixie-76 | hixie-76 / RFC 6455 |",
                "|---|---|---:|---:|---:|",
            ]
            for name in hixie:
                scenario = scenarios[name]
                rfc = self.median(name, "wsbackend", "rfc6455")
                old = self.median(name, "wsbackend", "hixie76")
                ratio = f"{old / rfc:.2f}" if rfc and old else "n/a"
                lines.append(
                    f"| {scenario.title} | {scenario.unit} | {fmt(rfc)} | {fmt(old)} | {ratio} |"
                )
        failures = [
            f"{s} / {p} {v}: {n}" for (s, p, v), n in self.notes.items() if n.startswith("failed")
        ]
        if failures:
            lines += ["", "† failed in a round (median of the others): " + "; ".join(failures)]
        return "\n".join(lines)


def fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def load_average() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def machine() -> str:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores ({model or platform.machine()}), {platform.system()}"


def write_readme(path: Path, table: str) -> None:
    """Replaces the text between the suite's markers in the README."""
    text = path.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{table}\n{END}{tail}")
