"""kindred.kafka.EventConsumer: idempotent, version-ordered, dead-lettering, committing.

Tansu takes 5 to 18 s to let a consumer join its group, so the tests of this module share
one consumer (two topics) and wait for its assignment instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import psycopg
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kindred.db import Database, UnitOfWork
from kindred.events import Event
from kindred.kafka import EventConsumer, EventProducer
from kindred.topics import dead_letter_topic
from tests.integration.platform.conftest import new_topic, query, read_topic
from tests.integration.platform.readmodel import apply_if_newer
from tests.support import eventually

JOIN_TIMEOUT = 60.0
MAX_ATTEMPTS = 3
BUSY_WAIT_MS, QUIET_WAIT_MS, QUIET_AFTER = 50, 200, 2.0


class PoisonError(RuntimeError):
    pass


@dataclass
class Stream:
    """The shared consumer, its topics, and what its handlers saw."""

    name: str
    copies: str  # handled by apply_if_newer
    flaky: str  # handled by a handler that fails on payloads marked poison
    consumer: EventConsumer
    task: asyncio.Task[None]
    attempts: Counter[uuid.UUID] = field(default_factory=Counter)

    async def stop(self) -> None:
        if not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            await self.consumer.stop()


def make_consumer(
    name: str, database: Database, infra, producer: EventProducer, handlers
) -> EventConsumer:
    return EventConsumer(
        name=name,
        database=database,
        bootstrap=infra.kafka_bootstrap,
        handlers=handlers,
        producer=producer,
        max_attempts=MAX_ATTEMPTS,
        retry_delay=0.05,
        fetch_max_wait_ms=BUSY_WAIT_MS,
        quiet_fetch_max_wait_ms=QUIET_WAIT_MS,
        quiet_after_seconds=QUIET_AFTER,
        # A static member: a restarted consumer takes its predecessor's place at once.
        instance_id=f"{name}-1",
    )


async def start(consumer: EventConsumer) -> asyncio.Task[None]:
    await consumer.start()
    task = asyncio.create_task(consumer.run())
    await asyncio.wait_for(consumer.assigned.wait(), JOIN_TIMEOUT)
    return task


@pytest.fixture(scope="module")
async def stream(
    infra, database: Database, producer: EventProducer, spans: InMemorySpanExporter
) -> AsyncIterator[Stream]:
    copies = await new_topic(infra.kafka_bootstrap, "consumer-copies")
    flaky = await new_topic(infra.kafka_bootstrap, "consumer-flaky")
    name = f"platform-test-{uuid.uuid4().hex[:8]}"
    attempts: Counter[uuid.UUID] = Counter()

    async def fails_on_poison(uow: UnitOfWork, event: Event) -> None:
        attempts[event.event_id] += 1
        await apply_if_newer(uow, event)  # written, then rolled back when it raises
        if event.payload.get("poison"):
            raise PoisonError(f"cannot apply {event.aggregate_id} v{event.aggregate_version}")

    consumer = make_consumer(
        name, database, infra, producer, {copies: apply_if_newer, flaky: fails_on_poison}
    )
    task = await start(consumer)
    running = Stream(name, copies, flaky, consumer, task, attempts)
    yield running
    await running.stop()


async def send(producer: EventProducer, event: Event) -> None:
    await (await producer.send(event.topic, key=event.key, value=event.to_json(), headers=[]))


def event(topic: str, aggregate: str, version: int, value: str, **payload) -> Event:
    return Event(
        topic=topic,
        aggregate_id=aggregate,
        aggregate_version=version,
        payload={"value": value, **payload},
    )


async def copy_of(url: str, aggregate: str) -> tuple[int, str] | None:
    rows = await query(url, "SELECT version, value FROM copies WHERE id = %s", aggregate)
    return rows[0] if rows else None


async def wait_for_copy(url: str, aggregate: str, version: int) -> None:
    async def at_version() -> bool:
        current = await copy_of(url, aggregate)
        return current is not None and current[0] == version

    await eventually(at_version, what=f"{aggregate} at v{version}")


async def times_applied(url: str, event_id: uuid.UUID) -> int:
    rows = await query(url, "SELECT count(*) FROM applied WHERE event_id = %s", event_id)
    return rows[0][0]


async def inbox_rows(url: str, consumer: str, event_id: uuid.UUID) -> list[tuple]:
    return await query(
        url, "SELECT topic FROM inbox WHERE consumer = %s AND event_id = %s", consumer, event_id
    )


async def test_the_same_event_delivered_twice_is_applied_once(
    stream: Stream, producer: EventProducer, scratch_db_url: str
):
    aggregate = f"dup-{uuid.uuid4().hex[:6]}"
    twice = event(stream.copies, aggregate, 1, "first")
    after = event(stream.copies, aggregate, 2, "second")

    await send(producer, twice)
    await send(producer, twice)
    await send(producer, after)  # same key, same partition: handled after both copies
    await wait_for_copy(scratch_db_url, aggregate, 2)

    assert await copy_of(scratch_db_url, aggregate) == (2, "second")
    assert await times_applied(scratch_db_url, twice.event_id) == 1
    assert await times_applied(scratch_db_url, after.event_id) == 1
    assert await inbox_rows(scratch_db_url, stream.name, twice.event_id) == [(stream.copies,)]


async def test_a_quiet_consumer_waits_longer_per_fetch_and_wakes_at_the_next_event(
    stream: Stream, producer: EventProducer, scratch_db_url: str
):
    """The embedded broker answers a fetch when its wait runs out: quiet, the consumer
    fetches less often (less idle CPU); the first event brings the short wait back."""
    await eventually(
        lambda: stream.consumer.fetch_wait_ms == QUIET_WAIT_MS,
        what="the quiet wait",
        within=QUIET_AFTER + 5,
    )
    aggregate = f"wake-{uuid.uuid4().hex[:6]}"
    await send(producer, event(stream.copies, aggregate, 1, "news"))
    await wait_for_copy(scratch_db_url, aggregate, 1)
    assert stream.consumer.fetch_wait_ms == BUSY_WAIT_MS


async def test_an_older_version_after_a_newer_one_changes_nothing(
    stream: Stream, producer: EventProducer, scratch_db_url: str
):
    aggregate = f"order-{uuid.uuid4().hex[:6]}"
    newer = event(stream.copies, aggregate, 5, "five")
    older = event(stream.copies, aggregate, 4, "four")

    await send(producer, newer)
    await send(producer, older)
    await eventually(
        lambda: inbox_rows(scratch_db_url, stream.name, older.event_id), what="older handled"
    )

    assert await copy_of(scratch_db_url, aggregate) == (5, "five")
    assert await times_applied(scratch_db_url, older.event_id) == 1  # seen, and ignored


async def test_a_message_that_is_not_an_envelope_is_dead_lettered_and_the_stream_moves_on(
    infra, stream: Stream, producer: EventProducer, scratch_db_url: str
):
    aggregate = f"junk-{uuid.uuid4().hex[:6]}"
    garbage = b'{"hello": "not an event"}'
    await (
        await producer.send(
            stream.copies, key=aggregate, value=garbage, headers=[("origin", b"test")]
        )
    )
    following = event(stream.copies, aggregate, 1, "after the junk")
    await send(producer, following)

    await wait_for_copy(scratch_db_url, aggregate, 1)
    assert await copy_of(scratch_db_url, aggregate) == (1, "after the junk")

    parked = await read_topic(infra.kafka_bootstrap, dead_letter_topic(stream.copies), 1)
    ours = [r for r in parked if r.key == aggregate.encode()]
    assert len(ours) == 1
    record = ours[0]
    headers = dict(record.headers)
    assert record.value == garbage
    assert headers["origin"] == b"test"
    assert b"not a Kindred event envelope" in headers["kindred-error"]
    assert headers["kindred-original-topic"] == stream.copies.encode()
    assert headers["kindred-consumer"] == stream.name.encode()
    assert int(headers["kindred-original-offset"]) >= 0


async def test_a_handler_that_keeps_failing_is_retried_then_dead_lettered_and_later_events_apply(
    infra, stream: Stream, producer: EventProducer, scratch_db_url: str
):
    aggregate = f"poison-{uuid.uuid4().hex[:6]}"
    poison = event(stream.flaky, aggregate, 1, "never", poison=True)
    later = event(stream.flaky, aggregate, 2, "applied")

    await send(producer, poison)
    await send(producer, later)
    await wait_for_copy(scratch_db_url, aggregate, 2)

    assert stream.attempts[poison.event_id] == MAX_ATTEMPTS
    assert stream.attempts[later.event_id] == 1
    assert await copy_of(scratch_db_url, aggregate) == (2, "applied")
    # Every failed attempt was rolled back with its inbox row.
    assert await times_applied(scratch_db_url, poison.event_id) == 0
    assert await inbox_rows(scratch_db_url, stream.name, poison.event_id) == []

    parked = await read_topic(infra.kafka_bootstrap, dead_letter_topic(stream.flaky), 1)
    ours = [r for r in parked if r.key == aggregate.encode()]
    assert [json.loads(r.value) for r in ours] == [poison.to_dict()]
    headers = dict(ours[0].headers)
    assert b"PoisonError" in headers["kindred-error"]
    assert f"cannot apply {aggregate} v1".encode() in headers["kindred-error"]
    assert headers["kindred-original-topic"] == stream.flaky.encode()


async def test_an_event_consumed_while_the_database_is_down_is_applied_once_it_is_back(
    infra, stream: Stream, producer: EventProducer, scratch_db_url: str
):
    aggregate = f"outage-{uuid.uuid4().hex[:6]}"
    name = scratch_db_url.rsplit("/", 1)[1]
    admin_url = f"{infra.postgres_url.rstrip('/')}/postgres"
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as admin:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            await send(producer, event(stream.copies, aggregate, 1, "during the outage"))
            await asyncio.sleep(2.0)  # longer than the consumer's retries
        finally:
            await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')

    await eventually(
        lambda: copy_of(scratch_db_url, aggregate), within=8.0, what="applied after the outage"
    )
    assert await copy_of(scratch_db_url, aggregate) == (1, "during the outage")


async def test_committed_offsets_are_where_a_restarted_consumer_resumes(
    infra,
    stream: Stream,
    database: Database,
    producer: EventProducer,
    scratch_db_url: str,
    spans: InMemorySpanExporter,
):
    """Runs last: it stops the shared consumer and starts its successor in the group."""
    aggregate = f"resume-{uuid.uuid4().hex[:6]}"
    before = event(stream.copies, aggregate, 1, "before the restart")
    await send(producer, before)
    await wait_for_copy(scratch_db_url, aggregate, 1)
    await stream.stop()

    spans.clear()
    successor = make_consumer(
        stream.name, database, infra, producer, {stream.copies: apply_if_newer}
    )
    task = await start(successor)
    try:
        after = event(stream.copies, aggregate, 2, "after the restart")
        await send(producer, after)
        await wait_for_copy(scratch_db_url, aggregate, 2)
        await asyncio.sleep(0.5)  # room for any redelivery to show up
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await successor.stop()

    consumed = [
        (span.attributes or {})["messaging.kafka.offset"]
        for span in spans.get_finished_spans()
        if span.name == f"consume {stream.copies}"
    ]
    # Only the new message: nothing the first consumer had committed came again.
    assert len(consumed) == 1, consumed
    assert await times_applied(scratch_db_url, before.event_id) == 1
    assert await times_applied(scratch_db_url, after.event_id) == 1
    assert await copy_of(scratch_db_url, aggregate) == (2, "after the restart")
