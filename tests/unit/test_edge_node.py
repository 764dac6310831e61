"""The gateway edge's own tests (router/edge/*.test.mjs: its document checks and what it
makes of the engine's answers), run with Node's test runner."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROUTER = Path(__file__).resolve().parents[2] / "router"


def test_the_edge_document_checks_pass() -> None:
    run = subprocess.run(
        ["node", "--test", "edge/"], cwd=ROUTER, capture_output=True, text=True, timeout=120
    )
    passed = re.search(r"^# pass (\d+)$", run.stdout, re.MULTILINE)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert passed is not None and int(passed.group(1)) > 0, run.stdout[-2000:]
