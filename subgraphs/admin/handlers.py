"""The events the admin subgraph handles: none. Staff accounts and the audit log are its
own; what staff act on is read from its owners when they act."""

from __future__ import annotations

from kindred.kafka import Handler

HANDLERS: dict[str, Handler] = {}
