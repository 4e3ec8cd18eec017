"""What ``pip install .`` puts in site-packages: wsbackend and its sample apps, and no global
``apps`` package to collide with the ``apps/`` folder of the sites that deploy us."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.servers import ROOT, TIME_UNIT


def test_a_regular_install_claims_no_apps_package(tmp_path: Path) -> None:
    target = tmp_path / "site-packages"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
         str(ROOT)],
        check=True, capture_output=True, timeout=300 * TIME_UNIT, cwd=tmp_path,
    )  # fmt: skip
    assert not (target / "apps").exists()
    assert (target / "wsbackend_apps" / "site.py").exists()
    assert (target / "wsbackend_apps" / "chat" / "index.html").exists()
    for package in (ROOT / "wsbackend").rglob("__init__.py"):
        installed = target / package.relative_to(ROOT)
        assert installed.exists(), f"{package.parent.name} missing from pyproject's packages"
    code = (
        "from wsbackend.cli import DEFAULT_APPLICATION as name; "
        "from wsbackend.server import load_application; load_application(name); print('ok')"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], env={"PYTHONPATH": str(target)}, cwd=tmp_path,
        capture_output=True, text=True, timeout=60 * TIME_UNIT, check=False,
    )  # fmt: skip
    assert loaded.stdout.strip() == "ok", loaded.stderr
