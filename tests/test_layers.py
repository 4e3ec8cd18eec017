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


LAYER_OF = {"protocol": 1, "connection": 2, "application": 3}
"""Subpackages by layer; modules at the package root are the integration layer (4)."""


def layer(path: Path) -> int:
    relative = path.relative_to(PACKAGE)
    return LAYER_OF.get(relative.parts[0], 4) if len(relative.parts) > 1 else 4


def wsbackend_imports(path: Path) -> set[str]:
    """The wsbackend subpackages or root modules a module imports, relative or absolute."""
    tree = ast.parse(path.read_text())
    package_parts = path.relative_to(PACKAGE).parts[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(package_parts[: len(package_parts) - node.level + 1])
            target = base + (node.module.split(".") if node.module else [])
            if target:
                found.add(target[0])
            else:
                found.update(alias.name for alias in node.names)
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("wsbackend.")
        ):
            found.add(node.module.split(".")[1])
    return found


def test_each_layer_imports_only_the_layers_below() -> None:
    """protocol < connection < application < integration: never an import upwards."""
    for path in PACKAGE.rglob("*.py"):
        own = layer(path)
        for name in wsbackend_imports(path):
            target = LAYER_OF.get(name, 4)
            assert target <= own, f"{path.relative_to(PACKAGE)} (layer {own}) imports {name}"


def test_sample_apps_use_only_the_public_api() -> None:
    """apps/ imports ``wsbackend`` itself, never its submodules."""
    for path in (PACKAGE.parent / "apps").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                assert not node.module.startswith("wsbackend."), f"{path.name}: {node.module}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("wsbackend."), f"{path.name}: {alias.name}"
