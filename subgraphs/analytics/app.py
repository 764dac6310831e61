"""Wiring of the analytics subgraph (`uvicorn subgraphs.analytics.app:app`)."""

from __future__ import annotations

from pathlib import Path

from kindred.app import Subgraph, create_app
from subgraphs.analytics.handlers import HANDLERS
from subgraphs.analytics.schema import schema

SUBGRAPH = Subgraph(
    name="analytics",
    schema=schema,
    migrations_dir=Path(__file__).parent / "migrations",
    handlers=HANDLERS,
)

app = create_app(SUBGRAPH)
