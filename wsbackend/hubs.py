"""Choosing the hub from the configuration: a Redis URL (``--redis``, ``WSBACKEND_REDIS_URL``)
shares broadcast, groups and presence through Redis, for ``wsbackend serve`` and every gunicorn
worker alike (not under mod_wsgi, whose processes are not gevent's)."""

from __future__ import annotations

from .application.hub import Hub, LocalHub, RedisHub
from .config import Config

__all__ = ["Hub", "RedisHub", "hub_for"]


def hub_for(config: Config) -> Hub:
    """A :class:`RedisHub` for ``config.redis_url`` if it is set, else a :class:`LocalHub`."""
    return RedisHub(config.redis_url) if config.redis_url else LocalHub()
