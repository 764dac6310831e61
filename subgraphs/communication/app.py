"""Wiring of the communication subgraph (`uvicorn subgraphs.communication.app:app`)."""

from __future__ import annotations

from pathlib import Path

from kindred.app import Subgraph, create_app
from subgraphs.communication.handlers import HANDLERS
from subgraphs.communication.schema import schema

SUBGRAPH = Subgraph(
    name="communication",
    schema=schema,
    migrations_dir=Path(__file__).parent / "migrations",
    handlers=HANDLERS,
)

app = create_app(SUBGRAPH)
