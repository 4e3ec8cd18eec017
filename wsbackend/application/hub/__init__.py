"""Hubs: where broadcast, groups and presence stop, this process or every worker and host."""

from __future__ import annotations

from .base import Hub, Member
from .local import LocalHub
from .redis import RedisHub

__all__ = ["Hub", "LocalHub", "Member", "RedisHub"]
