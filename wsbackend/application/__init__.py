"""The application layer: the app interface, clients, and apps chosen by subprotocol."""

from __future__ import annotations

from .base import Application
from .client import Client
from .directory import Directory, Group
from .registry import AppRegistry
from .session import run_session

__all__ = ["AppRegistry", "Application", "Client", "Directory", "Group", "run_session"]
