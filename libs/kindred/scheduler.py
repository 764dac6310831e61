"""Periodic work for a subgraph's background tasks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def every(seconds: float, work: Callable[[], Awaitable[object]], *, name: str) -> None:
    """Runs `work` every `seconds` (from the start of one run to the next) until cancelled.

    A failing run is logged and the next one comes on time: periodic work must not
    die with one bad round (the database restarting, say).
    """
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: a run failed; next one in %.1f s", name, seconds)
        await asyncio.sleep(max(0.0, seconds - (loop.time() - started)))
