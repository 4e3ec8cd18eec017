"""Broadcast backpressure end to end, with the sample chat app under ``wsbackend serve``: one
burst of 2,100 chat messages (4.3 MB to each member) closes no member that reads as fast as it
can, and a member that never reads is cut off with 1008 after the grace, not the talker."""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
from dataclasses import dataclass, field

import pytest

from tests.e2e.rawclient import RawClient
from tests.servers import TIME_UNIT, free_port, running, wsbackend_serve

BURST = 2100
TEXT = "b" * 2000
"""The chat app's longest message: 2,100 of them are 4.3 MB to each member, past the default
``max_send_buffer`` (4 MiB)."""
GRACE = 2.0


@dataclass
class Member:
    """One chat client; ``read_all`` counts the burst's messages until the last or the end."""

    client: RawClient
    expected: int = BURST
    said: int = 0
    close_code: int | None = None
    errors: list[str] = field(default_factory=list)

    def read_all(self) -> None:
        try:
            while self.said < self.expected:
                opcode, payload = self.client.read_message()
                if opcode == 0x8:
                    self.close_code = struct.unpack("!H", payload[:2])[0] if payload else 1005
                    return
                if json.loads(payload)["type"] == "message":
                    self.said += 1
        except (OSError, EOFError) as exc:
            self.errors.append(type(exc).__name__)


def _close(member: Member) -> int:
    """Close, skipping the notices of the others leaving; the code the server echoed."""
    member.client.send_frame(0x8, struct.pack("!H", 1000))
    while True:
        opcode, payload = member.client.read_message()
        if opcode == 0x8:
            return int(struct.unpack("!H", payload[:2])[0])


def _join(port: int, nick: str, rcvbuf: int | None = None) -> Member:
    client = RawClient(port, timeout=60 * TIME_UNIT)
    if rcvbuf is not None:
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    response = client.hybi_handshake(13, f"/ws?room=burst&nick={nick}", protocols="chat")
    assert response.status == 101
    return Member(client)


def _burst(talker: Member, count: int = BURST) -> None:
    say = json.dumps({"type": "say", "text": TEXT}).encode()
    key = os.urandom(4)
    masked = bytes(byte ^ key[index % 4] for index, byte in enumerate(say))
    frame = struct.pack("!BBH", 0x81, 0x80 | 126, len(say)) + key + masked
    talker.client.send(frame * count)


def test_a_burst_closes_no_member_that_reads(tmp_path_factory: pytest.TempPathFactory) -> None:
    port = free_port()
    log = tmp_path_factory.mktemp("burst") / "serve.log"
    with running(wsbackend_serve(port), port, log):
        members = [_join(port, f"reader{index}") for index in range(5)]
        talker = _join(port, "talker")
        readers = [threading.Thread(target=member.read_all) for member in [*members, talker]]
        for reader in readers:
            reader.start()
        _burst(talker)
        for reader in readers:
            reader.join(120 * TIME_UNIT)
        for member in [*members, talker]:
            assert (member.said, member.close_code, member.errors) == (BURST, None, [])
            assert _close(member) == 1000
            member.client.close()


def test_a_member_that_never_reads_is_cut_off_after_the_grace_and_the_talker_is_not(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Two bursts back to back (8.5 MB) leave over 4 MB queued for the stuck member past what
    the kernel takes (up to 4 MiB here), over ``max_send_buffer`` (1 MB): it gets 1008 once the
    grace is over. The talker, and a member that reads, get everything."""
    port = free_port()
    log = tmp_path_factory.mktemp("burst") / "serve.log"
    grace = GRACE * TIME_UNIT
    options = ("--max-send-buffer", "1000000", "--slow-reader-grace", str(grace))
    with running(wsbackend_serve(port, *options), port, log):
        stuck = _join(port, "stuck", rcvbuf=4096)
        reader = _join(port, "reader")
        talker = _join(port, "talker")
        reader.expected = talker.expected = 2 * BURST
        threads = [threading.Thread(target=member.read_all) for member in (reader, talker)]
        for thread in threads:
            thread.start()
        _burst(talker, 2 * BURST)
        for thread in threads:
            thread.join(120 * TIME_UNIT)
        for member in (reader, talker):
            assert (member.said, member.close_code, member.errors) == (2 * BURST, None, [])
        assert _close(talker) == 1000
        assert _close(reader) == 1000
        # The stuck member reads only now: what the kernel held, then the close frame; or a
        # reset if that could not leave within close_timeout (its 4 KiB window is slow).
        stuck.read_all()
        assert stuck.close_code == 1008 or stuck.errors
        for member in (stuck, reader, talker):
            member.client.close()
    lines = log.read_text().splitlines()
    assert sum("closing a peer that does not keep up" in line for line in lines) == 1
    sessions = [line for line in lines if "wsbackend.session" in line]
    cut_off = [line for line in sessions if "close=1008" in line]
    assert len(sessions) == 3 and len(cut_off) == 1 and "received=0/0B" in cut_off[0]
