"""Kindred on one machine without Docker: embedded PostgreSQL, Redis and a Kafka-protocol
broker, the subgraphs under uvicorn and the gateway, supervised by `Stack`."""

from kindred.devstack.broker import EmbeddedBroker, create_topics, wait_for_broker
from kindred.devstack.postgres import EmbeddedPostgres, create_databases, database_url
from kindred.devstack.process import StartupError, free_port
from kindred.devstack.redis_server import EmbeddedRedis
from kindred.devstack.stack import Stack
from kindred.devstack.supergraph import render_supergraph, subgraph_ports

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
