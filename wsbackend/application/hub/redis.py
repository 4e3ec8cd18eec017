"""The Redis hub: broadcast, groups and presence across every worker and host sharing a Redis.

Broadcasts go through one pub/sub channel: the publishing worker delivers to its own clients at
once and publishes the message once; every other worker's subscriber greenlet delivers it to its
local clients through the same :func:`~wsbackend.application.fanout.deliver` (framed once per
wire format per worker). ``exclude`` needs no travel: the excluded client is the publisher's.

Presence lives in per-worker keys that expire: one hash per group and worker (client id to the
app's shared data), one count per application and worker, all rewritten by a heartbeat, so the
entries of a worker killed without cleaning up vanish within :attr:`RedisHub.ttl` seconds.

Pub/sub is at-most-once: what is published while a worker is cut off from Redis never reaches
it. Local delivery never depends on Redis; the hub reconnects with backoff, resubscribes and
rewrites its presence when Redis is back.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import gevent
from gevent.event import Event

from ...connection import Message
from ..fanout import deliver
from .base import Member
from .local import LocalHub, local_members

if TYPE_CHECKING:
    from ..client import Client
    from ..directory import Directory

__all__ = ["RedisHub", "redis_url_for_logs"]

log = logging.getLogger("wsbackend.hub")

MIN_BACKOFF = 0.5
MAX_BACKOFF = 5.0
MAX_OUTBOX = 10_000
"""Broadcasts waiting for Redis beyond this are dropped (at-most-once, logged)."""
PUBLISH_BATCH = 500
START_WAIT = 2.0
"""How long the first use in a process waits for the subscription, so nothing sent just after
a worker's first client connects is missed."""


def redis_url_for_logs(url: str) -> str:
    """``url`` without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


class RedisHub:
    """Broadcast, groups and presence shared through Redis pub/sub and expiring keys.

    Args:
        url: ``redis://[:password@]host:port/db`` (``rediss://`` for TLS).
        prefix: Of every key and channel, to share one Redis between sites.
        heartbeat: Seconds between rewrites of this worker's presence.
        ttl: Seconds after which a silent worker's presence expires; at most 30.
    """

    shared = True

    def __init__(
        self, url: str, *, prefix: str = "wsbackend", heartbeat: float = 5.0, ttl: float = 15.0
    ) -> None:
        try:
            import redis
        except ImportError:
            raise ImportError(
                "the Redis hub needs the redis package: pip install 'wsbackend[redis]'"
            ) from None
        if not 0 < 2 * heartbeat <= ttl <= 30:
            raise ValueError("need 0 < 2 * heartbeat <= ttl <= 30 seconds")
        self.url = url
        self.prefix = prefix
        self.heartbeat = heartbeat
        self.ttl = ttl
        self._redis_module = redis
        self._local = LocalHub()
        self._directories: dict[str, Directory] = {}
        self._channel = f"{prefix}:broadcast"
        self._workers_key = f"{prefix}:workers"
        self._pid = 0
        self._up: bool | None = None
        self.on_state: Callable[[bool], None] | None = None
        """Called with True or False each time the link to Redis comes or goes (metrics)."""
        self._greenlets: list[gevent.Greenlet] = []
        self._ready = Event()
        self._resync = Event()
        self._outbox: deque[bytes] = deque()
        self._outbox_ready = Event()
        self._overflowing = False
        self._client: Any = None
        self._worker = ""
        self._own_header = b"\n"

    # Keys: the worker comes before the app (length-prefixed) so no two names collide.
    def _group_key(self, worker: str, app: str, group: str) -> str:
        return f"{self.prefix}:group:{worker}:{len(app)}:{app}:{group}"

    def _count_key(self, worker: str, app: str) -> str:
        return f"{self.prefix}:count:{worker}:{app}"

    def _alive_key(self, worker: str) -> str:
        return f"{self.prefix}:alive:{worker}"

    def attach(self, name: str, directory: Directory) -> None:
        self._directories[name] = directory

    def broadcast(
        self, directory: Directory, group: str | None, message: Message, exclude: Client | None
    ) -> int:
        delivered = self._local.broadcast(directory, group, message, exclude)
        self._ensure_started()
        if self._up:
            text = isinstance(message, str)
            header = json.dumps([self._worker, directory.name, group, text]).encode()
            body = message.encode() if isinstance(message, str) else bytes(message)
            if len(self._outbox) < MAX_OUTBOX:
                self._outbox.append(header + b"\n" + body)
                self._outbox_ready.set()
            elif not self._overflowing:
                self._overflowing = True
                log.warning("hub: %d broadcasts wait for Redis; dropping more", MAX_OUTBOX)
        return delivered

    def members(self, directory: Directory, group: str) -> list[Member]:
        local = local_members(directory, group)
        self._ensure_started()
        if not self._up:
            return local
        app = directory.name

        def read(redis: Any) -> list[Any]:
            workers = sorted(w.decode() for w in redis.smembers(self._workers_key))
            pipe = redis.pipeline(transaction=False)
            for worker in workers:
                pipe.hgetall(self._group_key(worker, app, group))
            return list(zip(workers, pipe.execute(), strict=True))

        found = list(local)  # this worker's own entries in Redis may lag; these do not
        for worker, entries in self._run(read) or ():
            if worker == self._worker:
                continue
            for client_id, value in entries.items():
                try:
                    joined_at, data = json.loads(value)
                    found.append(Member(client_id.decode(), data, float(joined_at)))
                except (ValueError, TypeError, UnicodeDecodeError):
                    log.warning("hub: ignored a malformed member entry of %s", worker)
        return sorted(found, key=lambda member: (member.joined_at, member.id))

    def count(self, directory: Directory) -> int:
        own = len(directory._clients)
        self._ensure_started()
        if not self._up:
            return own
        app = directory.name

        def read(redis: Any) -> int:
            workers = [w.decode() for w in redis.smembers(self._workers_key)]
            others = [w for w in workers if w != self._worker]
            counts = redis.mget([self._count_key(w, app) for w in others]) if others else []
            return sum(int(count) for count in counts if count is not None)

        return own + (self._run(read) or 0)

    def connected(self, directory: Directory, client: Client) -> None:
        self._write_count(directory)

    def disconnected(self, directory: Directory, client: Client) -> None:
        self._write_count(directory)

    def joined(self, directory: Directory, client: Client, group: str) -> None:
        value = json.dumps([directory._groups[group]._joined_at[client.id], client.presence])

        def build(pipe: Any) -> None:
            key = self._group_key(self._worker, directory.name, group)
            pipe.hset(key, client.id, value).expire(key, round(self.ttl))

        self._write(build)

    def left(self, directory: Directory, client: Client, group: str) -> None:
        self._write(
            lambda pipe: pipe.hdel(self._group_key(self._worker, directory.name, group), client.id)
        )

    def presence_changed(self, directory: Directory, client: Client) -> None:
        for group in list(client.groups):
            if group in directory._groups:
                self.joined(directory, client, group)

    def close(self) -> None:
        for greenlet in self._greenlets:
            greenlet.kill(block=False)
        self._greenlets = []
        self._pid = 0

    def _write_count(self, directory: Directory) -> None:
        count = len(directory._clients)
        self._write(
            lambda pipe: pipe.set(
                self._count_key(self._worker, directory.name), count, ex=round(self.ttl)
            )
        )

    def _write(self, build: Any) -> None:
        """Run the commands ``build`` adds to a pipeline, with this worker's registration.

        ``build`` names the keys when it runs: the worker's name is only known once started.
        """
        self._ensure_started()
        if not self._up:
            return

        def run(redis: Any) -> None:
            pipe = redis.pipeline(transaction=False)
            pipe.set(self._alive_key(self._worker), 1, ex=round(self.ttl))
            pipe.sadd(self._workers_key, self._worker)
            build(pipe)
            pipe.execute()

        self._run(run)

    def _run(self, operation: Any) -> Any:
        """``operation(redis)``, or None if Redis failed (logged once, reconnection follows)."""
        try:
            return operation(self._client)
        except (self._redis_module.RedisError, OSError) as exc:
            self._set_up(False, exc)
            return None

    def _set_up(self, up: bool, reason: object = None) -> None:
        if up == self._up:
            return
        previous, self._up = self._up, up
        if self.on_state is not None:
            self.on_state(up)
        where = redis_url_for_logs(self.url)
        if up:
            log.info("hub: connected to Redis at %s; broadcast and presence span workers", where)
        elif previous is None:
            log.warning(
                "hub: Redis at %s unavailable at start (%s); local delivery only until it answers",
                where,
                reason,
            )
        else:
            log.warning(
                "hub: lost Redis at %s (%s); local delivery only, reconnecting", where, reason
            )

    def _ensure_started(self) -> None:
        if self._pid == os.getpid():
            return
        self.close()
        self._pid = os.getpid()
        self._up = None
        self._worker = f"{socket.gethostname()}/{self._pid}/{secrets.token_hex(4)}"
        self._own_header = json.dumps([self._worker]).encode()[:-1] + b","
        from gevent import monkey

        if not monkey.is_module_patched("socket"):
            log.error(
                "hub: Redis needs gevent's monkey-patching (socket) to not block the server; "
                "broadcast and presence stay in this process"
            )
            self._up = False
            return
        self._client = self._redis_module.Redis.from_url(
            self.url,
            socket_timeout=self.heartbeat,
            socket_connect_timeout=self.heartbeat,
            health_check_interval=round(self.heartbeat),
            retry=self._redis_module.retry.Retry(self._redis_module.backoff.NoBackoff(), 0),
        )
        self._ready.clear()
        self._outbox.clear()
        self._greenlets = [
            gevent.spawn(self._subscribe),
            gevent.spawn(self._beat),
            gevent.spawn(self._publish),
        ]
        self._ready.wait(START_WAIT)

    def _subscribe(self) -> None:
        """Deliver what other workers publish; reconnect with backoff when Redis goes away."""
        delay = MIN_BACKOFF
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self._channel)
                self._set_up(True)
                self._resync.set()
                delay = MIN_BACKOFF
                self._ready.set()
                while self._up:
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None and message["type"] == "message":
                        self._receive(message["data"])
            except (self._redis_module.RedisError, OSError) as exc:
                self._set_up(False, exc)
            except Exception as exc:  # a bug must not end cross-process delivery for good
                log.exception("hub: subscriber failed; resubscribing")
                self._set_up(False, exc)
            finally:
                pubsub.close()
            self._ready.set()
            gevent.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)

    def _publish(self) -> None:
        """Publish queued broadcasts in pipelined batches: the broadcaster never waits on Redis,
        and each worker's messages keep their order."""
        outbox = self._outbox
        while True:
            self._outbox_ready.wait()
            self._outbox_ready.clear()
            while outbox:
                if not self._up:
                    outbox.clear()
                    break
                pipe = self._client.pipeline(transaction=False)
                for _ in range(min(len(outbox), PUBLISH_BATCH)):
                    pipe.publish(self._channel, outbox.popleft())
                self._run(lambda redis, pipe=pipe: pipe.execute())
            self._overflowing = False

    def _receive(self, data: bytes) -> None:
        if data.startswith(self._own_header):  # this worker's: its clients already have it
            return
        header, _, body = data.partition(b"\n")
        try:
            _, app, group, text = json.loads(header)
            message: Message = body.decode() if text else body
        except (ValueError, TypeError, UnicodeDecodeError):
            log.warning("hub: ignored a malformed message on %s", self._channel)
            return
        directory = self._directories.get(app)
        if directory is None:
            return
        if group is None:
            deliver(message, directory._clients.values())
        elif (found := directory._groups.get(group)) is not None:
            deliver(message, found._members.values())

    def _beat(self) -> None:
        """Rewrite this worker's presence every heartbeat, and at once after a reconnection."""
        while True:
            self._resync.wait(self.heartbeat)
            self._resync.clear()
            if self._up:
                try:
                    self._run(self._rewrite)
                except Exception:
                    log.exception("hub: presence heartbeat failed")

    def _rewrite(self, redis: Any) -> None:
        ttl = round(self.ttl)
        pipe = redis.pipeline(transaction=True)
        pipe.set(self._alive_key(self._worker), 1, ex=ttl)
        pipe.sadd(self._workers_key, self._worker)
        for app, directory in self._directories.items():
            pipe.set(self._count_key(self._worker, app), len(directory._clients), ex=ttl)
            for name, group in directory._groups.items():
                key = self._group_key(self._worker, app, name)
                entries: Mapping[str, str] = {
                    client_id: json.dumps([group._joined_at[client_id], client.presence])
                    for client_id, client in group._members.items()
                }
                pipe.delete(key)
                pipe.hset(key, mapping=entries)
                pipe.expire(key, ttl)
        pipe.execute()
        workers = [w.decode() for w in redis.smembers(self._workers_key)]
        pipe = redis.pipeline(transaction=False)
        for worker in workers:
            pipe.exists(self._alive_key(worker))
        gone = [worker for worker, alive in zip(workers, pipe.execute(), strict=True) if not alive]
        if gone:
            redis.srem(self._workers_key, *gone)
