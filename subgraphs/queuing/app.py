"""Wiring of the queuing subgraph (`uvicorn subgraphs.queuing.app:app`)."""

from __future__ import annotations

from pathlib import Path

from kindred.app import Subgraph, create_app
from kindred.platform import Platform
from kindred.scheduler import every
from subgraphs.queuing import entry_cache, matchmaking, saga, saga_steps
from subgraphs.queuing.handlers import HANDLERS
from subgraphs.queuing.schema import schema


def retry_policy(platform: Platform) -> saga.RetryPolicy:
    settings = platform.settings
    return saga.RetryPolicy(settings.saga_step_timeout_seconds, settings.saga_max_attempts)


async def matcher(platform: Platform) -> None:
    """A tick every `KINDRED_MATCH_INTERVAL_SECONDS`; one replica at a time plans."""
    policy = retry_policy(platform)
    await every(
        platform.settings.match_interval_seconds,
        lambda: matchmaking.tick(
            platform.db, policy, free_max_distance_km=platform.settings.free_max_distance_km
        ),
        name="matcher",
    )


async def saga_runner(platform: Platform) -> None:
    """Asks again for late saga steps and compensates sagas out of attempts."""
    policy = retry_policy(platform)
    interval = min(1.0, policy.step_timeout_seconds / 4)
    await every(interval, lambda: saga_steps.run_overdue(platform.db, policy), name="saga")


SUBGRAPH = Subgraph(
    name="queuing",
    schema=schema,
    migrations_dir=Path(__file__).parent / "migrations",
    handlers=HANDLERS,
    tasks={"matcher": matcher, "saga": saga_runner, "entry-cache": entry_cache.listener},
)

app = create_app(SUBGRAPH)
