"""The load client of the suite: one process on uvloop, meant to be pinned to its own core.

Run by ``suite.py`` as ``python bench/load.py '<json spec>'``; prints one JSON object. Data
scenarios run on picows' compiled client (``ws_connect`` with a ``WSListener``): it parses the
server's frames in C, and the client writes pre-masked batches, one write per read, so the client
costs far less per message than any server it measures. The hixie-76 comparison and the
handshake and idle-memory scenarios speak raw bytes on asyncio protocols (picows knows neither
hixie-76 nor permessage-deflate). Every loop is bounded in count and in time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

MASK = b"\x37\xfa\x21\x3d"
HIXIE_KEYS = ("Sec-WebSocket-Key1: 12 34", "Sec-WebSocket-Key2: 56 78", b"abcdefgh")
DEFLATE_OFFER = "permessage-deflate; client_max_window_bits"
CLOSE_FRAME_1000 = (
    b"\x88\x82" + MASK + bytes(a ^ b for a, b in zip(b"\x03\xe8", MASK[:2], strict=True))
)
MAX_CONNECT_SECONDS = 180.0


def masked_frame(payload: bytes, opcode: int) -> bytes:
    """A client frame; the payload XORed with a fixed key through one big integer."""
    length = len(payload)
    if length < 126:
        header = bytes((0x80 | opcode, 0x80 | length))
    elif length < 1 << 16:
        header = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
    key = (MASK * (length // 4 + 1))[:length]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(length, "big")
    return header + MASK + masked


def server_frame_size(length: int) -> int:
    return length + (2 if length < 126 else 4 if length < 1 << 16 else 10)


def request_head(port: int, path: str, version: str, deflate: bool = False) -> bytes:
    origin = f"Origin: http://127.0.0.1:{port}"
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        origin,
    ]
    if version == "hixie76":
        return ("\r\n".join([*lines, *HIXIE_KEYS[:2]]) + "\r\n\r\n").encode() + HIXIE_KEYS[2]
    key = base64.b64encode(os.urandom(16)).decode()
    lines += [f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    if deflate:
        lines.append(f"Sec-WebSocket-Extensions: {DEFLATE_OFFER}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass
class Tally:
    """Messages answered, over every connection of a run."""

    count: int = 0


class Batcher:
    """Keeps ``window`` messages in flight: re-sends as many as came back, in one write."""

    def __init__(self, frame: bytes, window: int, tally: Tally) -> None:
        self.batches = [frame * n for n in range(window + 1)]
        self.window = window
        self.tally = tally

    def sent_back(self, answered: int) -> bytes:
        self.tally.count += answered
        return self.batches[answered] if answered <= self.window else self.batches[1] * answered


class PicowsEcho(WSListener):
    def __init__(self, batcher: Batcher) -> None:
        self.batcher = batcher
        self.answered = 0

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.fin and frame.msg_type != WSMsgType.PONG:
            self.answered += 1
        if frame.last_in_buffer and self.answered:
            transport.underlying_transport.write(self.batcher.sent_back(self.answered))
            self.answered = 0


class RawClient(asyncio.Protocol):
    """Sends a handshake; once answered, optionally counts fixed-size echoes in a window."""

    def __init__(
        self, head: bytes, answer_extra: int, echo_size: int = 0, batcher: Batcher | None = None
    ) -> None:
        self.head, self.answer_extra = head, answer_extra
        self.echo_size, self.batcher = echo_size, batcher
        self.buffer = b""
        self.opened: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.pending = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not registered as asyncio.Transport: a cast, not a check.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.head)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if not self.opened.done():
            self.buffer += data
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0 or len(self.buffer) < end + 4 + self.answer_extra:
                return
            self.opened.set_result(self.buffer[: end + 4])
            data = self.buffer[end + 4 + self.answer_extra :]
        if self.batcher is not None and data:
            self.pending += len(data)
            answered, self.pending = divmod(self.pending, self.echo_size)
            if answered:
                self.transport.write(self.batcher.sent_back(answered))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed during the handshake"))


async def raw_open(port: int, head: bytes, answer_extra: int = 0, **echo: Any) -> RawClient:
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(
        lambda: RawClient(head, answer_extra, **echo), "127.0.0.1", port
    )
    response = await asyncio.wait_for(client.opened, 30)
    if not response.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(response.decode("latin-1"))
    return client


def cpu_seconds(pid: int) -> tuple[float, float]:
    """A process's CPU time so far, user and system (of all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


@dataclass
class Window:
    """What a measurement window cost: wall time, the server's CPU time and the client's own."""

    server_pid: int
    wall: float = 0.0
    server_cpu: float = 0.0
    server_system: float = 0.0
    """Of ``server_cpu``, the time spent in the kernel (system calls, the network stack)."""
    client_cpu: float = 0.0

    async def run(self, seconds: float) -> None:
        server, client, start = (
            cpu_seconds(self.server_pid),
            time.process_time(),
            time.perf_counter(),
        )
        await asyncio.sleep(seconds)
        self.wall = time.perf_counter() - start
        user, system = cpu_seconds(self.server_pid)
        self.server_cpu = user + system - sum(server)
        self.server_system = system - server[1]
        self.client_cpu = time.process_time() - client

    def report(self, operations: int) -> dict[str, Any]:
        """The rate, and the operations per server CPU second: the fair figure when the
        client, not the server, is what runs out of CPU."""
        return {
            "rate": operations / self.wall,
            "per_server_cpu_s": operations / self.server_cpu if self.server_cpu else 0.0,
            "server_busy": self.server_cpu / self.wall,
            "server_system_share": self.server_system / self.server_cpu if self.server_cpu else 0.0,
            "client_busy": self.client_cpu / self.wall,
        }


async def measure(tally: Tally, spec: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(spec["warmup"])
    window, start_count = Window(spec["server_pid"]), tally.count
    await window.run(spec["seconds"])
    return window.report(tally.count - start_count)


async def echo(spec: dict[str, Any]) -> dict[str, Any]:
    """Messages answered per second, ``window`` in flight on each of ``connections``."""
    payload = b"x" * spec["size"]
    opcode = 0x2 if spec.get("binary") else 0x1
    tally = Tally()
    version = spec.get("version", "picows")
    if version == "hixie76":
        batcher = Batcher(b"\x00" + payload + b"\xff", spec["window"], tally)
    else:
        batcher = Batcher(masked_frame(payload, opcode), spec["window"], tally)
    url = f"ws://127.0.0.1:{spec['port']}/echo"
    clients: list[Any] = []
    for _ in range(spec["connections"]):
        if version == "picows":
            transport, _ = await ws_connect(
                lambda: PicowsEcho(batcher),
                url,
                max_frame_size=64 << 20,
                websocket_handshake_timeout=30,
            )
            clients.append(transport)
        else:
            head = request_head(spec["port"], "/echo", version)
            extra = 16 if version == "hixie76" else 0
            size = len(payload) + 2 if version == "hixie76" else server_frame_size(len(payload))
            clients.append(
                await raw_open(spec["port"], head, extra, echo_size=size, batcher=batcher)
            )
    # Traffic starts once every connection is open: a server whose busy connections never
    # yield (gevent-websocket reads pipelined frames from a buffer without switching) would
    # otherwise starve the handshakes still to come, and the run would measure that instead.
    first = batcher.batches[batcher.window]
    for client in clients:
        if isinstance(client, RawClient):
            assert client.transport is not None
            client.transport.write(first)
        else:
            client.underlying_transport.write(first)
    result = await measure(tally, spec)
    for client in clients:
        if isinstance(client, RawClient):
            assert client.transport is not None
            client.transport.close()
        else:
            client.disconnect()
    return {**result, "mb_per_s": result["rate"] * len(payload) / 1e6}


class Receiver(WSListener):
    def __init__(self, on_message: Callable[[Receiver], None]) -> None:
        self.received = 0
        self.on_message = on_message

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.fin and frame.msg_type in (
            WSMsgType.TEXT,
            WSMsgType.BINARY,
            WSMsgType.CONTINUATION,
        ):
            self.received += 1
            self.on_message(self)


@dataclass
class Fanout:
    """Broadcasts in flight, counted in deliveries: a message is N of them, one per receiver.

    Counting deliveries rather than tracking each message keeps the window moving even when a
    receiver got a warm-up message late or the server dropped one.
    """

    receivers: int
    window: int
    counting: bool = False
    sent: int = 0
    delivered: int = 0
    send: Callable[[], None] = lambda: None

    def on_message(self, receiver: Receiver) -> None:
        if not self.counting:
            return
        self.delivered += 1
        while (self.sent - self.window) * self.receivers < self.delivered:
            self.sent += 1
            self.send()


async def broadcast(spec: dict[str, Any]) -> dict[str, Any]:
    """Deliveries per second from one sender to ``connections`` receivers."""
    url = f"ws://127.0.0.1:{spec['port']}/broadcast"
    fanout = Fanout(spec["connections"], spec["window"])
    receivers: list[Receiver] = []
    transports: list[WSTransport] = []
    for _ in range(spec["connections"]):
        transport, receiver = await ws_connect(
            lambda: Receiver(fanout.on_message), url, websocket_handshake_timeout=30
        )
        assert isinstance(receiver, Receiver)
        transports.append(transport)
        receivers.append(receiver)
    sender, _ = await ws_connect(WSListener, url, websocket_handshake_timeout=30)
    transports.append(sender)
    frame = masked_frame(b"x" * spec["size"], 0x1)
    deadline = time.monotonic() + 30
    while any(r.received == 0 for r in receivers):  # every receiver is registered
        if time.monotonic() > deadline:
            raise RuntimeError("some receivers never got a broadcast")
        sender.underlying_transport.write(frame)
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    fanout.send = lambda: sender.underlying_transport.write(frame)
    fanout.counting = True
    for _ in range(spec["window"]):
        fanout.sent += 1
        fanout.send()
    await asyncio.sleep(spec["warmup"])
    window, start_delivered = Window(spec["server_pid"]), fanout.delivered
    await window.run(spec["seconds"])
    for transport in transports:
        transport.disconnect()
    return window.report(fanout.delivered - start_delivered)


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1])


async def open_many(spec: dict[str, Any], count: int, deflate: bool) -> list[RawClient]:
    gate = asyncio.Semaphore(100)
    head = request_head(spec["port"], "/echo", "rfc6455", deflate)

    async def one() -> RawClient:
        async with gate:
            return await raw_open(spec["port"], head)

    return await asyncio.wait_for(
        asyncio.gather(*(one() for _ in range(count))), MAX_CONNECT_SECONDS
    )


async def idle(spec: dict[str, Any]) -> dict[str, Any]:
    """The server's resident memory per idle connection: (RSS after - RSS before) / count."""
    deflate = bool(spec.get("deflate"))
    warm = await open_many(spec, 10, deflate)
    await asyncio.sleep(0.5)
    before = rss_kb(spec["server_pid"])
    clients = await open_many(spec, spec["connections"], deflate)
    await asyncio.sleep(2.0)
    after = rss_kb(spec["server_pid"])
    negotiated = sum(b"permessage-deflate" in c.opened.result().lower() for c in clients)
    for client in [*warm, *clients]:
        assert client.transport is not None
        client.transport.close()
    result: dict[str, Any] = {"rate": (after - before) * 1024 / spec["connections"] / 1000}
    if deflate and negotiated < len(clients):
        result["note"] = "deflate not negotiated"
    return result


async def handshakes(spec: dict[str, Any]) -> dict[str, Any]:
    """Opening handshakes per second: connect, upgrade, send a close frame, hang up."""
    version = spec.get("version", "rfc6455")
    extra = 16 if version == "hixie76" else 0
    goodbye = b"\xff\x00" if version == "hixie76" else CLOSE_FRAME_1000
    tally = Tally()
    stop = time.monotonic() + spec["warmup"] + spec["seconds"]

    async def worker() -> None:
        while time.monotonic() < stop:
            head = request_head(spec["port"], "/echo", version)
            client = await raw_open(spec["port"], head, extra)
            assert client.transport is not None
            client.transport.write(goodbye)
            client.transport.close()
            tally.count += 1

    workers = [asyncio.ensure_future(worker()) for _ in range(spec["connections"])]
    result = await measure(tally, spec)
    await asyncio.wait_for(asyncio.gather(*workers), 60)
    return result


SCENARIOS = {"echo": echo, "broadcast": broadcast, "idle": idle, "handshakes": handshakes}


def main() -> None:
    spec = json.loads(sys.argv[1])
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    result = uvloop.run(SCENARIOS[spec["kind"]](spec))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
