"""kindred.metrics against the real database and broker: the outbox's backlog and the age
of its oldest pending event, a scrape that still answers with the database down, and a
consumer's lag per partition, events handled and dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from prometheus_client.parser import text_string_to_metric_families

from kindred.db import Database, UnitOfWork
from kindred.devstack.process import free_port
from kindred.events import Event
from kindred.kafka import EventConsumer, EventProducer
from kindred.metrics import Metrics
from tests.integration.platform.conftest import new_topic
from tests.support import eventually

JOIN_TIMEOUT = 60.0


async def scrape(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of one scrape, by name and labels (the subgraph label left out)."""
    body, content_type = await metrics.render()
    assert content_type.startswith("text/plain")
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            assert sample.labels["subgraph"] == metrics.subgraph
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "subgraph"))
            samples[sample.name, labels] = sample.value
    return samples


async def test_a_pending_outbox_row_shows_as_backlog_with_its_age(
    database: Database, scratch_db_url: str
) -> None:
    metrics = Metrics("probe")
    metrics.watch(database=database)
    assert (await scrape(metrics))["kindred_outbox_pending_rows", ()] == 0

    async with await psycopg.AsyncConnection.connect(scratch_db_url, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO outbox (event_id, topic, key, value, headers, created_at, attempts)"
            " VALUES (%s, 'probe.topic', 'k', 'v', '{}', now() - interval '90 seconds', 0),"
            "        (%s, 'probe.topic', 'k', 'v', '{}', now(), 2)",
            (uuid.uuid4(), uuid.uuid4()),
        )
        samples = await scrape(metrics)
        assert samples["kindred_outbox_stats_up", ()] == 1
        assert samples["kindred_outbox_pending_rows", ()] == 2
        assert samples["kindred_outbox_retrying_rows", ()] == 1
        assert 90 <= samples["kindred_outbox_oldest_pending_age_seconds", ()] < 150

        # Published rows are history, not backlog.
        await conn.execute("UPDATE outbox SET published_at = now()")
        samples = await scrape(metrics)
        assert samples["kindred_outbox_pending_rows", ()] == 0
        assert samples["kindred_outbox_oldest_pending_age_seconds", ()] == 0


async def test_the_outbox_query_reads_the_partial_index_of_pending_rows(
    database: Database, scratch_db_url: str
) -> None:
    async with await psycopg.AsyncConnection.connect(scratch_db_url, autocommit=True) as conn:
        await conn.execute("SET enable_seqscan = off")  # a tiny table would be scanned anyway
        plan = await (
            await conn.execute(
                "EXPLAIN SELECT count(*), min(created_at) FROM outbox"
                " WHERE published_at IS NULL AND failed_at IS NULL"
            )
        ).fetchall()
    assert "ix_outbox_pending" in " ".join(row[0] for row in plan)


async def test_a_scrape_answers_while_the_database_is_down() -> None:
    nowhere = Database(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere")
    metrics = Metrics("probe")
    metrics.watch(database=nowhere)
    try:
        samples = await asyncio.wait_for(scrape(metrics), 5.0)
    finally:
        await nowhere.dispose()
    assert samples["kindred_outbox_stats_up", ()] == 0
    assert ("kindred_outbox_pending_rows", ()) not in samples
    assert samples["kindred_db_pool_size", ()] == 20


@contextlib.asynccontextmanager
async def running(consumer: EventConsumer) -> AsyncIterator[asyncio.Task[None]]:
    await consumer.start()
    task = asyncio.create_task(consumer.run())
    try:
        await asyncio.wait_for(consumer.assigned.wait(), JOIN_TIMEOUT)
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.stop()


def event(topic: str, aggregate: str, **payload: Any) -> Event:
    return Event(topic=topic, aggregate_id=aggregate, aggregate_version=1, payload=payload)


async def test_consumer_lag_per_partition_events_handled_and_dead_letters(
    infra: Any, database: Database, producer: EventProducer
) -> None:
    topic = await new_topic(infra.kafka_bootstrap, "metrics", partitions=1)
    release = asyncio.Event()

    async def handler(uow: UnitOfWork, event: Event) -> None:
        if event.payload.get("poison"):
            raise RuntimeError("cannot apply this one")
        if event.payload.get("wait"):
            await release.wait()

    consumer = EventConsumer(
        name=f"metrics-test-{uuid.uuid4().hex[:8]}",
        database=database,
        bootstrap=infra.kafka_bootstrap,
        handlers={topic: handler},
        producer=producer,
        max_attempts=2,
        retry_delay=0.01,
    )
    metrics = Metrics("probe")
    metrics.watch(consumer=consumer)
    lag = ("kindred_consumer_lag", (("partition", "0"), ("topic", topic)))

    async def send(event: Event) -> None:
        await (await producer.send(topic, key=event.key, value=event.to_json(), headers=[]))

    async with running(consumer):
        first = event(topic, "a")
        await send(first)
        await send(event(topic, "b", poison=True))
        await eventually(
            lambda: scrape(metrics),
            lambda samples: (
                samples.get(lag) == 0
                and samples.get(("kindred_consumer_dead_letters_total", (("topic", topic),))) == 1
            ),
            what="the first two events handled",
        )
        # One held in its handler, three behind it: none committed yet.
        for n in range(4):
            await send(event(topic, f"c{n}", wait=True))
        samples = await eventually(
            lambda: scrape(metrics), lambda s: s.get(lag) == 4, what="four events behind"
        )
        release.set()
        samples = await eventually(
            lambda: scrape(metrics), lambda s: s.get(lag) == 0, what="caught up"
        )

    def handled(outcome: str) -> float:
        key = ("kindred_consumer_events_total", (("outcome", outcome), ("topic", topic)))
        return samples.get(key, 0)

    assert handled("applied") == 5
    assert handled("dead_lettered") == 1
    assert handled("duplicate") == 0
