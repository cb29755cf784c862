"""The chaos suite at its reduced CI size, as a pytest test (``make chaos-ci``; run by .ci/run).

Deselected from the normal run (``-m "not chaos"`` in pytest's options): it starts gunicorn and two
``qcluster`` processes on its own PostgreSQL database and takes a few minutes. ``-m chaos`` selects
it. The full size is ``make chaos`` (docs/chaos.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.chaos

SIZE = os.environ.get("CHAOS_SIZE", "ci")
# The suite bounds itself (settle timeout); this is only a backstop for a hung process.
BACKSTOP_SECONDS = int(os.environ.get("CHAOS_BACKSTOP_SECONDS", "2400"))


def test_every_rackbeat_document_reaches_dinero_exactly_once_under_faults_and_kills(tmp_path):
    out = ROOT / "test-artifacts" / f"chaos-{SIZE}.json"
    extra = os.environ.get("CHAOS_ARGS", "").split()
    suite = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "chaos.py"), "--size", SIZE, "--out", str(out), *extra],
        cwd=ROOT, stdin=subprocess.DEVNULL)
    try:
        returncode = suite.wait(timeout=BACKSTOP_SECONDS)
    except subprocess.TimeoutExpired:
        suite.terminate()  # SIGTERM: the suite stops its gunicorn and worker clusters itself
        suite.wait(timeout=120)
        pytest.fail(f"the chaos suite was still running after {BACKSTOP_SECONDS} s")
    report = json.loads(out.read_text())
    counts = report["counts"]
    summary = (f"duplicates {counts['duplicates']}, missing {counts['missing']}, total mismatches "
               f"{counts['total_mismatches']}, left open {counts['left_open']}; violations:\n  "
               + "\n  ".join(report["violations"][:50]))
    assert counts["documents"] > 0, "the run pushed no document"
    assert counts["duplicates"] == 0 and counts["missing"] == 0, summary
    assert report["passed"] and returncode == 0, summary
