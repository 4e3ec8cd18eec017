"""The layering rule: the protocol core is sans-IO in fact, not only by intent."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "wsbackend"
FORBIDDEN_IN_PROTOCOL = {
    "gevent",
    "socket",
    "ssl",
    "select",
    "selectors",
    "threading",
    "asyncio",
    "logging",
    "time",
    "email",
    "gunicorn",
    "redis",
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_protocol_imports_no_io_modules() -> None:
    """No module under wsbackend/protocol imports sockets, gevent, logging or clocks."""
    for path in (PACKAGE / "protocol").glob("*.py"):
        bad = imported_modules(path) & FORBIDDEN_IN_PROTOCOL
        assert not bad, f"{path.name} imports {bad}"


def test_importing_protocol_loads_no_io_modules() -> None:
    """In a fresh interpreter, importing the core adds none of the I/O modules to sys.modules."""
    code = (
        "import sys; before = set(sys.modules); import wsbackend.protocol; "
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    added = set(subprocess.check_output([sys.executable, "-c", code], text=True).split())
    loaded = {name.split(".")[0] for name in added} & (FORBIDDEN_IN_PROTOCOL - {"time"})
    assert not loaded, f"importing wsbackend.protocol loaded {loaded}"
