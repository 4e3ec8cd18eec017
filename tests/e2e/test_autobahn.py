"""Conformance: all 517 Autobahn|Testsuite cases, run by kosoku against our gunicorn worker.

Every case must end OK, NON-STRICT or INFORMATIONAL: none FAILED, UNIMPLEMENTED or ERROR (the
runner's own failure). The verdict counts are printed for the closing notes.
"""

from __future__ import annotations

import collections
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.servers import OUR_WORKER, free_port, gunicorn, running

ACCEPTED = {"OK", "NON-STRICT", "INFORMATIONAL"}
EXPECTED_CASES = 517


def run_kosoku(port: int, outdir: Path) -> dict[str, dict[str, str]]:
    subprocess.run(
        ["kosoku", "-m", "fuzzingclient", "-p", "4", "-o", str(outdir),
         f"ws://127.0.0.1:{port}/"],
        check=False, timeout=1500, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    verdicts = {}
    for path in outdir.glob("*_case_*.json"):
        case = json.loads(path.read_text())
        verdicts[case["id"]] = {"behavior": case["behavior"], "close": case["behaviorClose"]}
    return verdicts


@pytest.mark.timeout(1800)
@pytest.mark.skipif(shutil.which("kosoku") is None, reason="kosoku comes with the test extra")
def test_autobahn_cases_against_our_worker(tmp_path: Path) -> None:
    port = free_port()
    with running(
        gunicorn(OUR_WORKER, "apps.site:application", port), port, tmp_path / "gunicorn.log"
    ):
        verdicts = run_kosoku(port, tmp_path / "reports")
    counts = collections.Counter(verdict["behavior"] for verdict in verdicts.values())
    print(f"\nAutobahn (kosoku) against {OUR_WORKER}: {dict(sorted(counts.items()))}")
    bad = {
        case: verdict
        for case, verdict in sorted(verdicts.items())
        if verdict["behavior"] not in ACCEPTED or verdict["close"] not in ACCEPTED
    }
    assert len(verdicts) == EXPECTED_CASES
    assert not bad, bad
