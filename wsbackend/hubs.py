"""Choosing the hub from the environment: ``WSBACKEND_REDIS_URL`` shares broadcast, groups and
presence through Redis, for ``wsbackend serve --redis``, the gunicorn worker and mod_wsgi alike."""

from __future__ import annotations

import os

from .application.hub import Hub, LocalHub, RedisHub

__all__ = ["REDIS_URL_ENV", "Hub", "hub_from_environment"]

REDIS_URL_ENV = "WSBACKEND_REDIS_URL"


def hub_from_environment() -> Hub:
    """A :class:`RedisHub` for ``$WSBACKEND_REDIS_URL`` if it is set, else a :class:`LocalHub`."""
    url = os.environ.get(REDIS_URL_ENV)
    return RedisHub(url) if url else LocalHub()
