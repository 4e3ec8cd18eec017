"""The application layer end to end: one chat room shared by every protocol version, members
that vanish or never read, the origin policy and admission hook, binary broadcast."""

from __future__ import annotations

import json
import socket
import struct
import time
from typing import Any

import pytest

from tests.e2e.e2e_site import ALLOWED_ORIGIN, PRIVATE_PATH, SESSION_COOKIE
from tests.e2e.rawclient import RawClient

VERSIONS = ["hixie-75", "hixie-76", "hybi-07", "hybi-08", "rfc6455"]


class Peer:
    """A chat client of any protocol version, speaking JSON text messages."""

    def __init__(self, port: int, version: str, path: str, rcvbuf: int | None = None) -> None:
        self.version = version
        self.raw = RawClient(port)
        if rcvbuf is not None:
            self.raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if version == "hixie-75":
            response = self.raw.hixie75_handshake(path, protocol="chat")
        elif version == "hixie-76":
            response = self.raw.hixie76_handshake(path, protocol="chat")
        else:
            number = {"hybi-07": 7, "hybi-08": 8, "rfc6455": 13}[version]
            response = self.raw.hybi_handshake(number, path, protocols="chat")
        assert response.status == 101, response

    @property
    def hixie(self) -> bool:
        return self.version.startswith("hixie")

    def send(self, **message: Any) -> None:
        text = json.dumps(message)
        if self.hixie:
            self.raw.send_hixie_text(text)
        else:
            self.raw.send_frame(0x1, text.encode())

    def receive(self) -> dict[str, Any]:
        if self.hixie:
            return dict(json.loads(self.raw.read_hixie_text()))
        opcode, payload = self.raw.read_message()
        assert opcode == 0x1, (opcode, payload)
        return dict(json.loads(payload))

    def expect(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Read until a message of ``kind`` with these fields; fail on timeout."""
        for _ in range(200):
            message = self.receive()
            if message["type"] == kind and all(message.get(k) == v for k, v in fields.items()):
                return message
        raise AssertionError(f"no {kind} {fields} for {self.version}")


def join_room(port: int, room: str) -> list[Peer]:
    peers = []
    for version in VERSIONS:
        peer = Peer(port, version, f"/ws?room={room}&nick={version}")
        assert peer.expect("welcome")["nick"] == version
        peers.append(peer)
    for peer in peers:
        peer.expect("members", members=VERSIONS)
    return peers


def test_every_version_shares_one_chat_room(server: int) -> None:
    """hixie-75, hixie-76, hybi-07, hybi-08 and RFC 6455 clients see each other's messages,
    joins and leaves."""
    peers = join_room(server, "versions")
    for speaker in peers:
        speaker.send(type="say", text=f"hello from {speaker.version} ✓")
        for listener in peers:
            listener.expect("message", nick=speaker.version, text=f"hello from {speaker.version} ✓")
    leaver = peers.pop(0)
    leaver.raw.close()
    for peer in peers:
        peer.expect("left", nick="hixie-75")
        peer.expect("members", members=VERSIONS[1:])
    late = Peer(server, "rfc6455", "/ws?room=versions&nick=late")
    for peer in peers:
        peer.expect("joined", nick="late")
    assert late.expect("welcome")["members"] == [*VERSIONS[1:], "late"]


def test_vanished_client_leaves_the_member_list(server: int) -> None:
    """A client whose TCP connection dies without a close frame is removed at once."""
    stayer = Peer(server, "rfc6455", "/ws?room=vanish&nick=stayer")
    stayer.expect("welcome")
    ghost = Peer(server, "hybi-08", "/ws?room=vanish&nick=ghost")
    stayer.expect("members", members=["stayer", "ghost"])
    ghost.raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ghost.raw.close()
    stayer.expect("left", nick="ghost")
    stayer.expect("members", members=["stayer"])


def test_client_that_never_reads_is_cut_off_while_others_keep_receiving(server: int) -> None:
    """Broadcasts never wait for a stuck reader: its queue overflows, it is closed with 1008,
    and the reading members receive every message."""
    reader = Peer(server, "rfc6455", "/ws?room=flood&nick=reader")
    reader.expect("welcome")
    stuck = Peer(server, "rfc6455", "/ws?room=flood&nick=stuck", rcvbuf=4096)
    reader.expect("members", members=["reader", "stuck"])
    sender = Peer(server, "hixie-76", "/ws?room=flood&nick=sender")
    reader.expect("members", members=["reader", "stuck", "sender"])
    chunk = "z" * 1900
    count = 3000  # 6 MB: past the kernel's send buffer (up to 4 MiB) and our 256 KiB queue
    for index in range(count):
        sender.send(type="say", text=f"{index}:{chunk}")
        reader.expect("message", text=f"{index}:{chunk}")
        sender.expect("message", text=f"{index}:{chunk}")
    reader.expect("left", nick="stuck")
    reader.expect("members", members=["reader", "sender"])
    assert stuck.raw.at_eof(timeout=10)


@pytest.mark.parametrize(
    ("version", "origin", "status"),
    [
        ("rfc6455", "http://127.0.0.1", 101),
        ("rfc6455", "http://evil.example", 403),
        ("rfc6455", ALLOWED_ORIGIN, 101),
        ("rfc6455", None, 101),
        ("hybi-08", "http://evil.example", 403),
        ("hixie-76", "http://evil.example", 403),
        ("hixie-75", "http://evil.example", 403),
        ("hixie-75", "http://127.0.0.1", 101),
    ],
)
def test_origin_policy(server: int, version: str, origin: str | None, status: int) -> None:
    """Same origin by default, whatever the version; the allowlist widens it; non-browser
    clients without an origin are accepted."""
    raw = RawClient(server)
    header = {"hybi-08": "Sec-WebSocket-Origin", "rfc6455": "Origin"}.get(version, "Origin")
    lines = ["GET /ws HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade"]
    if origin is not None:
        lines.append(f"{header}: {origin}")
    body = b""
    if version.startswith("hybi") or version == "rfc6455":
        number = 8 if version == "hybi-08" else 13
        lines += ["Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", f"Sec-WebSocket-Version: {number}"]
    elif version == "hixie-76":
        lines += [
            "Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5",
            "Sec-WebSocket-Key2: 12998 5 Y3 1  .P00",
        ]
        body = b"^n:ds[4U"
    raw.request(lines, body)
    assert raw.read_response().status == status


@pytest.mark.parametrize(("cookie", "status"), [(None, 403), ("session=wrong", 403),
                                                (SESSION_COOKIE, 101)])  # fmt: skip
def test_admission_hook_sees_the_cookies(server: int, cookie: str | None, status: int) -> None:
    raw = RawClient(server)
    extra = [f"Cookie: {cookie}"] if cookie else []
    assert raw.hybi_handshake(13, PRIVATE_PATH, extra=extra).status == status


def test_cursors_broadcast_binary_to_others(server: int) -> None:
    first, second = RawClient(server), RawClient(server)
    ids = []
    for client in (first, second):
        assert client.hybi_handshake(13, protocols="cursors").status == 101
        ids.append(json.loads(client.read_message()[1])["id"])
    first.send_frame(0x2, struct.pack("!HH", 1000, 2000))
    assert second.read_message() == (0x2, struct.pack("!HHH", ids[0], 1000, 2000))
    first.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _, payload = second.read_message()
        if payload == struct.pack("!HHH", ids[0], 0xFFFF, 0xFFFF):
            break
    else:
        raise AssertionError("no departure notice")


@pytest.mark.parametrize(
    ("forwarded_for", "seen"),
    [(None, "127.0.0.1"), ("203.0.113.9", "203.0.113.9"), ("6.6.6.6, 203.0.113.9", "203.0.113.9")],
)
def test_client_address_from_a_trusted_proxy(
    server: int, forwarded_for: str | None, seen: str
) -> None:
    """The test client connects from loopback, a trusted proxy by default: its
    X-Forwarded-For names the client, right-most untrusted hop first."""
    raw = RawClient(server)
    extra = [f"X-Forwarded-For: {forwarded_for}"] if forwarded_for else []
    assert raw.hybi_handshake(13, protocols="whoami", extra=extra).status == 101
    assert json.loads(raw.read_message()[1])["remote_addr"] == seen
