"""Wiring of the queuing subgraph (`uvicorn subgraphs.queuing.app:app`)."""

from __future__ import annotations

from pathlib import Path

from kindred.app import Subgraph, create_app
from subgraphs.queuing.events import HANDLERS
from subgraphs.queuing.schema import schema

SUBGRAPH = Subgraph(
    name="queuing",
    schema=schema,
    migrations_dir=Path(__file__).parent / "migrations",
    handlers=HANDLERS,
)

app = create_app(SUBGRAPH)
