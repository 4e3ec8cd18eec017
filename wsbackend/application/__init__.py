"""The application layer: the app interface, clients, and apps chosen by subprotocol."""

from __future__ import annotations

from .base import Application
from .client import Client
from .registry import AppRegistry
from .session import run_session

__all__ = ["AppRegistry", "Application", "Client", "run_session"]
