"""Hubs in one process (wsbackend/application/hub/): presence, counts, naming, hostile input.

Across processes, with a real Redis, see tests/e2e/test_hub.py.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from typing import Any

import pytest

from wsbackend.application import Application, AppRegistry, Client
from wsbackend.application.hub import LocalHub, Member, RedisHub
from wsbackend.application.hub.redis import redis_url_for_logs


class FakeWebSocket:
    """What a broadcast needs of a connection: no wire format, so messages queue as given."""

    wire_format = None

    def __init__(self) -> None:
        self.sent: list[str | bytes] = []

    def send_nowait(self, message: str | bytes) -> bool:
        self.sent.append(message)
        return True


def connect(app: Application) -> tuple[Client, FakeWebSocket]:
    websocket = FakeWebSocket()
    client = Client(websocket, {}, "127.0.0.1", app.directory)  # type: ignore[arg-type]
    app.directory.add(client)
    return client, websocket


def test_presence_lists_members_in_joining_order_with_their_shared_data() -> None:
    app = Application()
    ada, _ = connect(app)
    bob, _ = connect(app)
    ada.set_presence({"nick": "ada"})
    bob.join("room")
    ada.join("room")
    members = app.group("room").presence()
    assert [member.id for member in members] == [bob.id, ada.id]
    assert [dict(member.data) for member in members] == [{}, {"nick": "ada"}]
    assert all(isinstance(member, Member) for member in members)
    assert app.client_count() == 2
    app.directory.remove(bob)
    assert [member.id for member in app.group("room").presence()] == [ada.id]
    assert app.client_count() == 1
    assert app.group("nobody").presence() == []


def test_presence_must_be_json() -> None:
    app = Application()
    client, _ = connect(app)
    with pytest.raises(TypeError):
        client.set_presence({"socket": object()})
    assert client.presence == {}


def test_group_broadcast_reaches_members_only_and_counts_local_deliveries() -> None:
    app = Application()
    (inside, inside_ws), (_, outside_ws) = connect(app), connect(app)
    inside.join("room")
    assert app.group("room").broadcast("hi") == 1
    assert app.group("empty").broadcast("hi") == 0
    assert app.broadcast("all", exclude=inside) == 1
    assert inside_ws.sent == ["hi"]
    assert outside_ws.sent == ["all"]


def test_registry_names_each_app_once_for_the_hub() -> None:
    """An app is known by its first subprotocol; a default without one by ""."""
    echo, chat, other = Application(), Application(), Application()
    registry = AppRegistry({"echo": echo, "again": echo, "chat": chat}, default=other)
    hub = LocalHub()
    registry.bind(hub)
    assert (echo.directory.name, chat.directory.name, other.directory.name) == ("echo", "chat", "")
    late = Application()
    registry.register("late", late)
    assert late.directory.hub is hub
    assert late.directory.name == "late"


def test_redis_hub_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="ttl"):
        RedisHub("redis://127.0.0.1:1/0", ttl=45)
    with pytest.raises(ValueError, match="heartbeat"):
        RedisHub("redis://127.0.0.1:1/0", heartbeat=10, ttl=15)


def test_passwords_stay_out_of_the_logs() -> None:
    assert redis_url_for_logs("redis://:s3cret@db:6379/0") == "redis://:***@db:6379/0"
    assert redis_url_for_logs("redis://user:s3cret@db/1") == "redis://user:***@db/1"
    assert redis_url_for_logs("redis://db:6379/0") == "redis://db:6379/0"


def test_redis_hub_without_monkey_patching_stays_local(caplog: pytest.LogCaptureFixture) -> None:
    """Unpatched sockets would block the whole server: the hub says so and stays in-process,
    where broadcast and presence keep working."""
    hub = RedisHub("redis://127.0.0.1:1/0")
    app = Application()
    AppRegistry({"chat": app}).bind(hub)
    with caplog.at_level(logging.ERROR, "wsbackend.hub"):
        client, websocket = connect(app)
        client.join("room")
        assert app.group("room").broadcast("still here") == 1
    assert websocket.sent == ["still here"]
    assert [member.id for member in app.group("room").presence()] == [client.id]
    assert app.client_count() == 1
    assert [record.message for record in caplog.records].count(
        "hub: Redis needs gevent's monkey-patching (socket) to not block the server; "
        "broadcast and presence stay in this process"
    ) == 1


def test_redis_hub_ignores_its_own_and_malformed_messages(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = RedisHub("redis://127.0.0.1:1/0")
    app = Application()
    AppRegistry({"chat": app}).bind(hub)
    client, websocket = connect(app)
    client.join("room")

    def payload(worker: str, app_name: Any, group: Any, text: Any, body: bytes) -> bytes:
        return json.dumps([worker, app_name, group, text]).encode() + b"\n" + body

    with caplog.at_level(logging.WARNING, "wsbackend.hub"):
        hub._receive(b"not json\nx")
        hub._receive(payload("other", "chat", None, True, b"\xff"))
        hub._receive(payload("other", "chat", "room", "x", b"")[:5])
    assert [record.message for record in caplog.records].count(
        "hub: ignored a malformed message on wsbackend:broadcast"
    ) == 3
    hub._receive(payload(hub._worker, "chat", None, True, b"mine"))
    hub._receive(payload("other", "unknown", None, True, b"nobody"))
    hub._receive(payload("other", "chat", "elsewhere", True, b"not a member"))
    assert websocket.sent == []
    hub._receive(payload("other", "chat", "room", True, "to the room ✓".encode()))
    hub._receive(payload("other", "chat", None, False, b"\x00\x01"))
    assert websocket.sent == ["to the room ✓", b"\x00\x01"]


def test_cli_redis_without_the_package_is_one_line() -> None:
    code = (
        "import sys; sys.modules['redis'] = None; from wsbackend.cli import main; "
        "sys.exit(main(['serve', '--redis', 'redis://127.0.0.1:1/0']))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr == (
        "wsbackend: error: --redis-url (WSBACKEND_REDIS_URL) needs redis: "
        "pip install 'wsbackend[redis]'\n"
    )
