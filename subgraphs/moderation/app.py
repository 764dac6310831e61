"""Wiring of the moderation subgraph (`uvicorn subgraphs.moderation.app:app`)."""

from __future__ import annotations

from pathlib import Path

from kindred.app import Subgraph, create_app
from kindred.platform import Platform
from kindred.scheduler import every
from subgraphs.moderation import service
from subgraphs.moderation.handlers import HANDLERS
from subgraphs.moderation.schema import schema

# How often ended suspensions are recorded and announced (`user.reinstated`). Nothing
# waits for it: every reader compares `until` with the time itself.
REINSTATE_INTERVAL_SECONDS = 2.0


async def reinstate_worker(platform: Platform) -> None:
    """Publishes `user.reinstated` for each suspension whose time has passed, once."""
    await every(
        REINSTATE_INTERVAL_SECONDS,
        lambda: service.end_suspensions(platform.db),
        name="reinstate",
    )


SUBGRAPH = Subgraph(
    name="moderation",
    schema=schema,
    migrations_dir=Path(__file__).parent / "migrations",
    handlers=HANDLERS,
    tasks={"reinstate": reinstate_worker},
)

app = create_app(SUBGRAPH)
