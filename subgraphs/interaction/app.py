"""Wiring of the interaction subgraph (`uvicorn subgraphs.interaction.app:app`)."""

from __future__ import annotations

from pathlib import Path

from kindred.app import Subgraph, create_app
from subgraphs.interaction.handlers import HANDLERS
from subgraphs.interaction.schema import schema

SUBGRAPH = Subgraph(
    name="interaction",
    schema=schema,
    migrations_dir=Path(__file__).parent / "migrations",
    handlers=HANDLERS,
)

app = create_app(SUBGRAPH)
