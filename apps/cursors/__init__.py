"""Shared cursors: every pointer on the page, live, in small binary messages at a high rate.

A client sends its pointer as 4 bytes, x and y scaled to 0..65535 (big-endian uint16 each).
Every other client receives 6 bytes: the sender's number (uint16), x and y. A number with
x = y = 65535 means that client left. On connect a client gets its own number as text
(``{"type": "hello", "id": N}``) and everyone's last position. Binary frames need hybi-07
or later; hixie clients only get the text greeting.
"""

from __future__ import annotations

import json
import struct

from wsbackend import Application, Client

POSITION = struct.Struct("!HH")
UPDATE = struct.Struct("!HHH")
GONE = 0xFFFF


class CursorsApp(Application):
    """Relays each pointer position to everyone else, framed once per wire format."""

    def __init__(self) -> None:
        self._next_number = 1

    def on_connect(self, client: Client) -> None:
        number = self._next_number
        self._next_number = self._next_number % 0xFFFE + 1
        client.data["number"] = number
        client.send(json.dumps({"type": "hello", "id": number}))
        for other in self.clients:
            position = other.data.get("position")
            if other is not client and position is not None:
                client.send(UPDATE.pack(other.data["number"], *position))

    def on_message(self, client: Client, message: str | bytes) -> None:
        if not isinstance(message, bytes) or len(message) != POSITION.size:
            return
        position = POSITION.unpack(message)
        client.data["position"] = position
        self.broadcast(UPDATE.pack(client.data["number"], *position), exclude=client)

    def on_close(self, client: Client, code: int, reason: str) -> None:
        self.broadcast(UPDATE.pack(client.data["number"], GONE, GONE))
