"""The guard's own tests (router/guard/tests/test_*.c: JSON, GraphQL documents, limits,
introspection, WebSocket frames, GraphQL-over-HTTP requests, answers), each built and run
under AddressSanitizer and UndefinedBehaviorSanitizer by `make -C router/guard test`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

GUARD = Path(__file__).resolve().parents[2] / "router" / "guard"


def test_the_guard_modules_pass_their_tests_under_the_sanitizers() -> None:
    run = subprocess.run(
        ["make", "--no-print-directory", "-C", str(GUARD), "test"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    # Every module reports "<name>: N checks, 0 failed"; none may be missing or empty.
    reports = dict(re.findall(r"^(\w+): (\d+) checks, 0 failed$", output, re.MULTILINE))
    modules = {path.stem.removeprefix("test_") for path in (GUARD / "tests").glob("test_*.c")}
    assert set(reports) == modules, output[-4000:]
    assert all(int(count) > 0 for count in reports.values()), reports
    assert "ERROR: AddressSanitizer" not in output and "runtime error" not in output, output[-4000:]
