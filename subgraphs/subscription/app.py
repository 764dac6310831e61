"""Wiring of the subscription subgraph (`uvicorn subgraphs.subscription.app:app`).

Premium starts and ends through the payment provider's webhook (`webhook.py`), never a
mutation: the provider is the source of truth for payments.
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import Route

from kindred.app import Subgraph, create_app
from subgraphs.subscription import webhook
from subgraphs.subscription.handlers import HANDLERS
from subgraphs.subscription.schema import schema

SUBGRAPH = Subgraph(
    name="subscription",
    schema=schema,
    migrations_dir=Path(__file__).parent / "migrations",
    handlers=HANDLERS,
    routes=[Route(webhook.PATH, webhook.stripe_webhook, methods=["POST"])],
)

app = create_app(SUBGRAPH)
