"""The transactional outbox and its relay, against real PostgreSQL and the Tansu broker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import defaultdict

import pytest
from opentelemetry.trace import SpanKind
from sqlalchemy import text

from kindred.db import Database
from kindred.events import Event
from kindred.kafka import EventProducer
from kindred.relay import OutboxRelay
from kindred.telemetry import tracer
from tests.integration.platform.conftest import new_topic, query, read_topic
from tests.support import eventually


class Boom(RuntimeError):
    pass


@pytest.fixture(autouse=True)
async def empty_outbox(database: Database) -> None:
    """Each test counts only its own outbox rows."""
    async with database.session() as session:
        await (await session.connection()).execute(text("TRUNCATE outbox, copies"))
        await session.commit()


async def test_a_committed_unit_of_work_writes_the_change_and_its_outbox_rows_together(
    infra, database: Database, scratch_db_url: str
):
    topic = await new_topic(infra.kafka_bootstrap, "outbox-write")
    first = Event(topic=topic, aggregate_id="alice", aggregate_version=1, payload={"value": "a1"})
    second = Event(topic=topic, aggregate_id="bob", aggregate_version=4, payload={"value": "b4"})

    async with database.unit_of_work() as uow:
        await (await uow.session.connection()).execute(
            text("INSERT INTO copies VALUES ('alice', 1, 'a1')")
        )
        uow.publish(first)
        uow.publish(second)
        await uow.commit()

    assert await query(scratch_db_url, "SELECT id, version, value FROM copies") == [
        ("alice", 1, "a1")
    ]
    rows = await query(
        scratch_db_url,
        "SELECT event_id, topic, key, value, headers, created_at, published_at, attempts,"
        " last_error FROM outbox ORDER BY id",
    )
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (first.event_id, topic, "alice"),
        (second.event_id, topic, "bob"),
    ]
    assert [json.loads(r[3]) for r in rows] == [first.to_dict(), second.to_dict()]
    assert [r[5] for r in rows] == [first.occurred_at, second.occurred_at]
    # No span was active: no trace context. Not published until a relay sends it.
    assert [(r[4], r[6], r[7], r[8]) for r in rows] == [({}, None, 0, None)] * 2


async def test_a_unit_of_work_that_raises_or_is_not_committed_writes_nothing(
    infra, database: Database, scratch_db_url: str
):
    topic = await new_topic(infra.kafka_bootstrap, "outbox-rollback")

    with pytest.raises(Boom):
        async with database.unit_of_work() as uow:
            await (await uow.session.connection()).execute(
                text("INSERT INTO copies VALUES ('carol', 1, 'c1')")
            )
            uow.publish(
                Event(topic=topic, aggregate_id="carol", aggregate_version=1, payload={"value": 1})
            )
            await uow.session.flush()
            raise Boom("before commit")

    async with database.unit_of_work() as uow:
        await (await uow.session.connection()).execute(
            text("INSERT INTO copies VALUES ('dave', 1, 'd1')")
        )
        uow.publish(
            Event(topic=topic, aggregate_id="dave", aggregate_version=1, payload={"value": 1})
        )
        # Leaves without commit().

    assert await query(scratch_db_url, "SELECT * FROM copies") == []
    assert await query(scratch_db_url, "SELECT * FROM outbox") == []


async def test_the_relay_publishes_in_order_keyed_by_aggregate_with_the_trace_context(
    infra, database: Database, producer: EventProducer, scratch_db_url: str, spans
):
    topic = await new_topic(infra.kafka_bootstrap, "outbox-relay")
    events = [
        Event(topic=topic, aggregate_id=user, aggregate_version=version, payload={"value": i})
        for i, (version, user) in enumerate(
            (v, u) for v in (1, 2, 3) for u in ("alice", "bob", "carol")
        )
    ]
    with tracer.start_as_current_span("update profiles") as span:
        context = span.get_span_context()
        async with database.unit_of_work() as uow:
            for event in events:
                uow.publish(event)
            await uow.commit()
    assert context.is_valid, "the SDK tracer provider is not installed"

    relay = OutboxRelay(database, producer)
    assert await relay.publish_pending() == len(events)
    assert await relay.publish_pending() == 0

    records = await read_topic(infra.kafka_bootstrap, topic, len(events))
    assert len(records) == len(events)
    finished = {s.context.span_id: s for s in spans.get_finished_spans()}
    by_key: dict[str, list[dict]] = defaultdict(list)
    partitions: dict[str, set[int]] = defaultdict(set)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        key = record.key.decode()
        envelope = json.loads(record.value)
        assert envelope["aggregate_id"] == key
        by_key[key].append(envelope)
        partitions[key].add(record.partition)

        headers = dict(record.headers)
        _version, trace_id, parent_id, flags = headers["traceparent"].decode().split("-")
        assert int(trace_id, 16) == context.trace_id
        assert int(flags, 16) & 0x01  # sampled
        # The message's parent is the relay's publish span, a child of the outbox write,
        # a child of the span the events were raised in.
        publish = finished[int(parent_id, 16)]
        assert publish.name == f"publish {topic}" and publish.kind is SpanKind.PRODUCER
        assert publish.parent is not None
        write = finished[publish.parent.span_id]
        assert write.name == "outbox write"
        assert write.parent is not None and write.parent.span_id == context.span_id

    expected = {
        user: [e.to_dict() for e in events if e.aggregate_id == user]
        for user in ("alice", "bob", "carol")
    }
    assert dict(by_key) == expected  # every field of the envelope, in version order per key
    assert set(expected["alice"][0]) == {
        "event_id",
        "type",
        "schema_version",
        "occurred_at",
        "aggregate_id",
        "aggregate_version",
        "payload",
    }
    assert all(len(p) == 1 for p in partitions.values()), partitions

    rows = await query(
        scratch_db_url, "SELECT event_id, published_at, attempts, last_error FROM outbox"
    )
    assert {r[0] for r in rows} == {e.event_id for e in events}
    assert all(r[1] is not None and r[2] == 1 and r[3] is None for r in rows), rows


async def test_a_running_relay_is_woken_by_the_commit_not_by_its_poll(
    infra, database: Database, producer: EventProducer, scratch_db_url: str
):
    topic = await new_topic(infra.kafka_bootstrap, "outbox-notify")
    # A poll this slow would miss the deadline below: only NOTIFY can deliver in time.
    relay = OutboxRelay(database, producer, poll_interval=60.0)
    task = asyncio.create_task(relay.run())
    try:
        await eventually(
            lambda: query(
                scratch_db_url,
                "SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
                " AND starts_with(query, 'LISTEN')",
            ),
            what="the relay listening",
        )
        await asyncio.sleep(0.2)  # let its first (empty) round finish and go to sleep

        event = Event(topic=topic, aggregate_id="erin", aggregate_version=7, payload={"value": 7})
        committed_at = time.monotonic()
        async with database.unit_of_work() as uow:
            await (await uow.session.connection()).execute(
                text("INSERT INTO copies VALUES ('erin', 7, '7')")
            )
            uow.publish(event)
            await uow.commit()

        records = await read_topic(infra.kafka_bootstrap, topic, 1, within=5.0)
        delivered_after = time.monotonic() - committed_at
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    assert [json.loads(r.value) for r in records] == [event.to_dict()]
    assert delivered_after < 5.0
    rows = await query(scratch_db_url, "SELECT event_id, published_at IS NOT NULL FROM outbox")
    assert rows == [(event.event_id, True)]
    # The LISTEN connection goes away with the relay.
    await eventually(
        lambda: _no_listener(scratch_db_url), within=5.0, what="the LISTEN connection closed"
    )


async def test_a_relay_cancelled_as_its_wake_up_comes_stops(
    database: Database, producer: EventProducer, scratch_db_url: str
):
    """The wake-up and the cancellation land in the same turn of the loop (a commit as the
    platform stops): the relay must stop all the same, or stop() waits for it forever."""
    relay = OutboxRelay(database, producer, poll_interval=60.0)
    task = asyncio.create_task(relay.run())
    await eventually(lambda: _listening(scratch_db_url), what="the relay listening")
    await asyncio.sleep(0.2)  # its first (empty) round done: asleep on its wake-up flag
    relay._wakeup.set()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5.0)
    assert done == {task} and task.cancelled()


async def _listening(url: str) -> bool:
    return not await _no_listener(url)


async def _no_listener(url: str) -> bool:
    rows = await query(
        url,
        "SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
        " AND starts_with(query, 'LISTEN')",
    )
    return not rows


async def test_an_event_the_broker_refuses_does_not_hold_back_the_events_behind_it(
    infra, database: Database, producer: EventProducer, scratch_db_url: str
):
    topic = await new_topic(infra.kafka_bootstrap, "outbox-poison")
    before = Event(topic=topic, aggregate_id="fay", aggregate_version=1, payload={"value": "f1"})
    # Over the producer's 1 MB max_request_size: refused every time, never sent.
    too_big = Event(
        topic=topic, aggregate_id="gus", aggregate_version=1, payload={"value": "x" * 2_000_000}
    )
    behind = Event(topic=topic, aggregate_id="hal", aggregate_version=1, payload={"value": "h1"})
    async with database.unit_of_work() as uow:
        for event in (before, too_big, behind):
            uow.publish(event)
        await uow.commit()

    relay = OutboxRelay(database, producer)
    for _ in range(3):  # a few rounds of a running relay
        with contextlib.suppress(Exception):
            await relay.publish_pending()

    rows = {
        row[0]: row[1:]
        for row in await query(
            scratch_db_url, "SELECT event_id, published_at IS NOT NULL, last_error FROM outbox"
        )
    }
    assert rows[behind.event_id][0], "the event behind the refused one was never published"
    assert rows[before.event_id][0]
    # The refused one is kept, unpublished, with the reason for an operator.
    assert rows[too_big.event_id][0] is False
    assert "MessageSizeTooLarge" in rows[too_big.event_id][1]
    records = await read_topic(infra.kafka_bootstrap, topic, 2)
    assert {r.key for r in records} == {b"fay", b"hal"}
