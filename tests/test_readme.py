"""The README's set-up commands, run the way a new user runs them: from a fresh clone, as root
on a Debian without sudo, and as a user with sudo. apt-get is a stand-in that records what it
was asked (the tests never install system packages); everything else is real."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.servers import ROOT, TIME_UNIT, free_port, wait_for_port

README = (ROOT / "README.md").read_text()
START_COMMAND = re.search(r"## Set up.*?```sh\n(.*?)\n```", README, re.DOTALL)[1]  # type: ignore[index]


def fresh_clone(destination: Path) -> Path:
    """The files a clone has: those git tracks, as they are in this working tree."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, tracked):
        source = ROOT / os.fsdecode(name)
        if source.is_file():
            target = destination / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    return destination


def stand_ins(folder: Path, as_user: bool) -> dict[str, str]:
    """PATH with a recording apt-get; no working sudo for root, a recording one for a user."""
    folder.mkdir()
    log = folder / "calls.log"
    scripts = {"apt-get": f'echo "apt-get $*" >> {log}'}
    if as_user:
        scripts["id"] = 'if [ "$1" = -u ]; then echo 1000; else exec /usr/bin/id "$@"; fi'
        scripts["sudo"] = f'echo "sudo $*" >> {log}; exec "$@"'
    else:
        scripts["sudo"] = 'echo "sudo: command not found" >&2; exit 127'
    for name, body in scripts.items():
        path = folder / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return {**os.environ, "PATH": f"{folder}:{os.environ['PATH']}"}


def install_part(command: str) -> str:
    """The command up to the virtualenv: what needs root."""
    return command.split(" && python3 -m venv", 1)[0]


@pytest.mark.parametrize("as_user", [False, True], ids=["root-without-sudo", "user-with-sudo"])
def test_the_install_part_runs_as_root_and_as_a_user(tmp_path: Path, as_user: bool) -> None:
    env = stand_ins(tmp_path / "bin", as_user)
    for command in (install_part(START_COMMAND), ".ci/run's install part"):
        if command == ".ci/run's install part":
            script = (ROOT / ".ci" / "run").read_text().split("\npython3 -m venv")[0]
            command = script.replace('cd "$(dirname "$0")/.."', "")
        subprocess.run(["bash", "-c", command], env=env, cwd=tmp_path, check=True, timeout=60)
    calls = (tmp_path / "bin" / "calls.log").read_text().splitlines()
    apt = [call.removeprefix("sudo ") for call in calls if "apt-get" in call]
    assert "apt-get update" in apt
    assert "apt-get install -y python3-venv" in apt
    assert any(call.startswith("apt-get install -y -qq python3-venv") for call in apt)
    assert as_user == any(call.startswith("sudo apt-get") for call in calls)


def test_the_start_command_serves_the_sample_site_from_a_fresh_clone(tmp_path: Path) -> None:
    clone = fresh_clone(tmp_path / "wsbackend")
    env = stand_ins(tmp_path / "bin", as_user=False)
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    port = free_port()
    command = START_COMMAND.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    with open(tmp_path / "output.log", "wb") as output:
        process = subprocess.Popen(
            ["bash", "-c", command], cwd=clone, env=env, stdout=output, stderr=output,
            start_new_session=True,
        )  # fmt: skip
    try:
        wait_for_port(port, process, timeout=600)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10 * TIME_UNIT) as page:
            assert b"wsbackend sample apps" in page.read()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30 * TIME_UNIT)
    assert (clone / ".venv" / "bin" / "wsbackend").exists()
