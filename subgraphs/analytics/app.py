"""Wiring of the analytics subgraph (`uvicorn subgraphs.analytics.app:app`)."""

from __future__ import annotations

from pathlib import Path

from kindred.app import Subgraph, create_app
from kindred.platform import Platform
from kindred.scheduler import every
from subgraphs.analytics import service
from subgraphs.analytics.handlers import HANDLERS
from subgraphs.analytics.schema import schema


async def forget_counted(platform: Platform) -> None:
    """Hourly: drops the keys kept against duplicates once no duplicate can come."""
    await every(3600.0, lambda: service.forget_counted(platform.db), name="forget-counted")


SUBGRAPH = Subgraph(
    name="analytics",
    schema=schema,
    migrations_dir=Path(__file__).parent / "migrations",
    handlers=HANDLERS,
    tasks={"forget-counted": forget_counted},
)

app = create_app(SUBGRAPH)
