"""Kindred on one machine without Docker: embedded PostgreSQL, Redis and a Kafka-protocol
broker, the subgraphs under uvicorn and the gateway, supervised by `Stack`.

The names below are imported when first asked for, so a process that needs one module
(the trace store, the subgraphs' shared process) does not load the others' libraries."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kindred.devstack.broker import EmbeddedBroker, create_topics, wait_for_broker
    from kindred.devstack.postgres import EmbeddedPostgres, create_databases, database_url
    from kindred.devstack.process import StartupError, free_port
    from kindred.devstack.redis_server import EmbeddedRedis
    from kindred.devstack.stack import Stack
    from kindred.devstack.supergraph import render_supergraph, subgraph_ports

_HOMES = {
    "EmbeddedBroker": "broker",
    "create_topics": "broker",
    "wait_for_broker": "broker",
    "EmbeddedPostgres": "postgres",
    "create_databases": "postgres",
    "database_url": "postgres",
    "StartupError": "process",
    "free_port": "process",
    "EmbeddedRedis": "redis_server",
    "Stack": "stack",
    "render_supergraph": "supergraph",
    "subgraph_ports": "supergraph",
}

__all__ = [
    "EmbeddedBroker",
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "Stack",
    "StartupError",
    "create_databases",
    "create_topics",
    "database_url",
    "free_port",
    "render_supergraph",
    "subgraph_ports",
    "wait_for_broker",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
