"""Chat: nicknames, rooms, join and leave notices, the member list, messages to the room.

The wire format is JSON text, which every protocol version carries, so hixie-75 clients and
RFC 6455 clients talk in the same room. A client starts in the room and with the nickname of
its query string (``?room=lobby&nick=ada``), or ``lobby`` and ``guest-<client id>``.

Rooms and member lists span every worker and host when the site runs with a shared hub
(``wsbackend serve --redis URL``): nicknames are shared as each client's presence data.

Client to server: ``{"type": "say", "text": ...}``, ``{"type": "nick", "nick": ...}``,
``{"type": "join", "room": ...}``. Server to client: ``welcome``, ``message``, ``joined``,
``left``, ``renamed``, ``members`` and ``error``, each a JSON object with a ``type``.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs

from wsbackend import Application, Client, Group

MAX_TEXT = 2000
NAME = re.compile(r"^[\w .-]{1,32}$")


def _encode(**fields: Any) -> str:
    return json.dumps(fields, separators=(",", ":"))


def _nicks(group: Group) -> list[str]:
    """Every member's nickname, wherever connected, in the order they joined."""
    return [str(member.data.get("nick", member.id)) for member in group.presence()]


class ChatApp(Application):
    """Rooms are the application's groups; each client is in exactly one."""

    def on_connect(self, client: Client) -> None:
        query = parse_qs(client.query_string)
        nick = query.get("nick", [""])[0]
        room = query.get("room", ["lobby"])[0]
        client.data["nick"] = nick if NAME.match(nick) else f"guest-{client.id}"
        client.set_presence({"nick": client.data["nick"]})
        self._enter(client, room if NAME.match(room) else "lobby")

    def on_message(self, client: Client, message: str | bytes) -> None:
        try:
            request = json.loads(message)
            kind = request["type"]
        except (ValueError, KeyError, TypeError):
            client.send(_encode(type="error", text="send JSON objects with a 'type'"))
            return
        if kind == "say":
            self._say(client, str(request.get("text", ""))[:MAX_TEXT])
        elif kind == "nick":
            self._rename(client, str(request.get("nick", "")))
        elif kind == "join":
            self._move(client, str(request.get("room", "")))
        else:
            client.send(_encode(type="error", text=f"unknown type {str(kind)[:40]!r}"))

    def on_close(self, client: Client, code: int, reason: str) -> None:
        room = client.data.get("room")
        if room is not None:
            self._announce_departure(client, room)

    def _say(self, client: Client, text: str) -> None:
        room = client.data["room"]
        self.group(room).broadcast(
            _encode(type="message", room=room, nick=client.data["nick"], text=text)
        )

    def _rename(self, client: Client, nick: str) -> None:
        if not NAME.match(nick):
            client.send(_encode(type="error", text="a nickname is 1 to 32 letters or digits"))
            return
        old, client.data["nick"] = client.data["nick"], nick
        client.set_presence({"nick": nick})
        room = client.data["room"]
        self.group(room).broadcast(_encode(type="renamed", room=room, old=old, nick=nick))
        self._send_members(room)

    def _move(self, client: Client, room: str) -> None:
        if not NAME.match(room):
            client.send(_encode(type="error", text="a room name is 1 to 32 letters or digits"))
            return
        old = client.data["room"]
        if room == old:
            return
        client.leave(old)
        self._announce_departure(client, old)
        self._enter(client, room)

    def _enter(self, client: Client, room: str) -> None:
        client.data["room"] = room
        group = client.join(room)
        nick = client.data["nick"]
        client.send(_encode(type="welcome", room=room, nick=nick, members=_nicks(group)))
        group.broadcast(_encode(type="joined", room=room, nick=nick), exclude=client)
        self._send_members(room)

    def _announce_departure(self, client: Client, room: str) -> None:
        group = self.group(room)
        group.broadcast(_encode(type="left", room=room, nick=client.data["nick"]))
        self._send_members(room)

    def _send_members(self, room: str) -> None:
        group = self.group(room)
        group.broadcast(_encode(type="members", room=room, members=_nicks(group)))
