"""Wiring of the notification subgraph (`uvicorn subgraphs.notification.app:app`).

Pushes go from a device-token read model fed by the user subgraph's events: the worker
has no caller's token to ask `_entities` with, and a push must not need the user
subgraph to be up.
"""

from __future__ import annotations

from pathlib import Path

from kindred.app import Subgraph, create_app
from kindred.platform import Platform
from kindred.scheduler import every
from subgraphs.notification import delivery
from subgraphs.notification.handlers import HANDLERS
from subgraphs.notification.push import push_provider
from subgraphs.notification.schema import schema

# How often the worker looks for due pushes (new ones and retries).
PUSH_INTERVAL_SECONDS = 0.5


async def push_worker(platform: Platform) -> None:
    """Sends due pushes through the configured provider, retrying with backoff."""
    provider = push_provider(platform.settings, platform.http)
    policy = delivery.RetryPolicy()
    await every(
        PUSH_INTERVAL_SECONDS,
        lambda: delivery.deliver_due(platform.db, provider, policy),
        name="push",
    )


SUBGRAPH = Subgraph(
    name="notification",
    schema=schema,
    migrations_dir=Path(__file__).parent / "migrations",
    handlers=HANDLERS,
    tasks={"push": push_worker},
)

app = create_app(SUBGRAPH)
