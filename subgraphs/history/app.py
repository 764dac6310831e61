"""Wiring of the history subgraph (`uvicorn subgraphs.history.app:app`)."""

from __future__ import annotations

from pathlib import Path

from kindred.app import Subgraph, create_app
from subgraphs.history.handlers import HANDLERS
from subgraphs.history.schema import schema

SUBGRAPH = Subgraph(
    name="history",
    schema=schema,
    migrations_dir=Path(__file__).parent / "migrations",
    handlers=HANDLERS,
)

app = create_app(SUBGRAPH)
