"""Named points where a crash test can freeze the process, to SIGKILL it exactly there.

`KINDRED_FAILPOINTS=name,other` arms points; a process reaching an armed point stops
itself (SIGSTOP) so nothing else runs, and the test kills it. Unarmed points cost one
set lookup.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

log = logging.getLogger(__name__)

_ARMED = frozenset(name for name in os.environ.get("KINDRED_FAILPOINTS", "").split(",") if name)


def reach(name: str) -> None:
    """Freezes the process if the failpoint `name` is armed; otherwise returns at once."""
    if name in _ARMED:
        print(f"failpoint {name} reached: stopping", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGSTOP)
