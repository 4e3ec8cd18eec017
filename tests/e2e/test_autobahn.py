"""Conformance: all 517 Autobahn|Testsuite cases, run by kosoku against our gunicorn worker,
directly and through nginx and Apache configured from the shipped files.

Every case must end OK, NON-STRICT or INFORMATIONAL: none FAILED, UNIMPLEMENTED or ERROR (the
runner's own failure). The verdict counts are printed for the closing notes.
"""

from __future__ import annotations

import collections
import contextlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.e2e.proxies import apache, nginx, proxies_available
from tests.servers import OUR_WORKER, free_port, gunicorn, running

ACCEPTED = {"OK", "NON-STRICT", "INFORMATIONAL"}
EXPECTED_CASES = 517


def run_kosoku(url: str, outdir: Path) -> dict[str, dict[str, str]]:
    subprocess.run(
        ["kosoku", "-m", "fuzzingclient", "-p", "4", "-o", str(outdir), url],
        check=False, timeout=1500, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    verdicts = {}
    for path in outdir.glob("*_case_*.json"):
        case = json.loads(path.read_text())
        verdicts[case["id"]] = {"behavior": case["behavior"], "close": case["behaviorClose"]}
    return verdicts


@contextlib.contextmanager
def target(name: str, backend_port: int, folder: Path) -> Iterator[str]:
    """The URL kosoku drives: the backend itself, or a proxy in front of it."""
    if name == "direct":
        yield f"ws://127.0.0.1:{backend_port}/"
        return
    if not proxies_available()[name]:
        pytest.skip(f"{name} is installed by .ci/run")
    issued = trustme.CA().issue_cert("127.0.0.1")
    cert, key = folder / "cert.pem", folder / "key.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    start = apache if name == "apache" else nginx
    with start(backend_port, cert, key) as proxy:
        yield f"ws://127.0.0.1:{proxy.http_port}/ws"


@pytest.mark.timeout(1800)
@pytest.mark.skipif(shutil.which("kosoku") is None, reason="kosoku comes with the test extra")
@pytest.mark.parametrize("route", ["direct", "nginx", "apache"])
def test_autobahn_cases(route: str, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "gunicorn.log"
    with (
        running(gunicorn(OUR_WORKER, "apps.site:application", port), port, log),
        target(route, port, tmp_path) as url,
    ):
        verdicts = run_kosoku(url, tmp_path / "reports")
    counts = collections.Counter(verdict["behavior"] for verdict in verdicts.values())
    print(f"\nAutobahn (kosoku), {OUR_WORKER}, {route}: {dict(sorted(counts.items()))}")
    bad = {
        case: verdict
        for case, verdict in sorted(verdicts.items())
        if verdict["behavior"] not in ACCEPTED or verdict["close"] not in ACCEPTED
    }
    assert len(verdicts) == EXPECTED_CASES
    assert not bad, bad
