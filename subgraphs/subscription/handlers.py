"""The events the subscription subgraph handles: none; the payment provider's webhook
(`webhook.py`) is where its changes come from."""

from __future__ import annotations

from kindred.kafka import Handler

HANDLERS: dict[str, Handler] = {}
