"""The public API: every name in wsbackend.__all__ resolves, lazily."""

from __future__ import annotations

import subprocess
import sys

import wsbackend


def test_every_public_name_resolves() -> None:
    for name in wsbackend.__all__:
        assert getattr(wsbackend, name) is not None


def test_public_names_load_lazily() -> None:
    """Importing the package alone imports neither gevent nor the layers above the protocol."""
    code = "import sys, wsbackend; print('gevent' in sys.modules, 'wsbackend.wsgi' in sys.modules)"
    output = subprocess.check_output([sys.executable, "-c", code], text=True).split()
    assert output == ["False", "False"]
