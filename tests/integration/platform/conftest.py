"""Fixtures for the platform tests: a scratch database per module, topics, tracing.

Each module gets its own database (`platform_test_<module>_<hex>`) with the platform
tables created by the real migration code and the read model of `readmodel.py`; topic
names are unique per test run, each with its dead-letter topic.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from alembic.migration import MigrationContext
from alembic.operations import Operations
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import create_engine, pool

from kindred.db import Database, driver_url
from kindred.devstack.broker import create_topics
from kindred.kafka import EventProducer
from kindred.platform_tables import create_platform_tables
from kindred.telemetry import setup_tracing
from kindred.topics import dead_letter_topic
from tests.integration.platform.readmodel import READ_MODEL_DDL

SPANS = InMemorySpanExporter()


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    """Every span the platform records in this process (the SDK provider is installed once)."""
    setup_tracing("platform-tests", exporter=SPANS)
    return SPANS


def create_scratch_database(postgres_url: str, prefix: str) -> tuple[str, str]:
    """Creates an empty database with the platform tables and the read model."""
    name = f"platform_test_{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{postgres_url.rstrip('/')}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{postgres_url.rstrip('/')}/{name}"
    engine = create_engine(driver_url(url), poolclass=pool.NullPool)
    try:
        with engine.begin() as connection:
            # The same function every subgraph's first migration calls.
            with Operations.context(MigrationContext.configure(connection)):
                create_platform_tables()
            for statement in READ_MODEL_DDL:
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()
    return name, url


def drop_scratch_database(postgres_url: str, name: str) -> None:
    with psycopg.connect(f"{postgres_url.rstrip('/')}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def scratch_db_url(infra, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of this test module's own, dropped afterwards."""
    prefix = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    name, url = create_scratch_database(infra.postgres_url, prefix)
    yield url
    drop_scratch_database(infra.postgres_url, name)


@pytest.fixture(scope="module")
async def database(scratch_db_url: str) -> AsyncIterator[Database]:
    db = Database(scratch_db_url, pool_size=5, max_overflow=5)
    yield db
    await db.dispose()


@pytest.fixture(scope="module")
async def producer(infra) -> AsyncIterator[EventProducer]:
    events = EventProducer(infra.kafka_bootstrap)
    await events.start()
    yield events
    await events.stop()


async def new_topic(bootstrap: str, purpose: str, *, partitions: int = 3) -> str:
    """Creates a topic no other test uses, and its dead-letter topic."""
    name = f"platform-test.{purpose}.{uuid.uuid4().hex[:8]}"
    await create_topics(bootstrap, [name, dead_letter_topic(name)], partitions=partitions)
    return name


async def read_topic(
    bootstrap: str, topic: str, count: int, *, within: float = 15.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """The first `count` messages of every partition of `topic` (no consumer group).

    Fails if fewer arrive within `within` seconds; waits a little longer to catch extras.
    """
    reader = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50
    )
    await reader.start()
    try:
        await reader.topics()  # loads the cluster's metadata
        partitions = reader.partitions_for_topic(topic) or set()
        assert partitions, f"topic {topic} has no partitions"
        reader.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        await reader.seek_to_beginning()
        records: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + within
        settle_until: float | None = None
        while time.monotonic() < deadline:
            batches = await reader.getmany(timeout_ms=200)
            for batch in batches.values():
                records.extend(batch)
            if len(records) >= count:
                # A short extra look, so a test sees duplicates it did not expect.
                settle_until = settle_until or time.monotonic() + 0.5
                if time.monotonic() >= settle_until:
                    break
        assert len(records) >= count, (
            f"{topic}: {len(records)} of {count} messages within {within} s"
        )
        return records
    finally:
        await reader.stop()


async def query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of one SQL query, on a connection of its own (sees only committed data)."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute(sql, params or None)
        return await cursor.fetchall()
