"""The history rebuild on a topic of its own: it reads to the end offsets it saw at the start,
applies what it can in batches, and counts (and leaves out) what is not an event or fails,
as the live consumer dead-letters it; a timeline with entries is refused."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from kindred.devstack.broker import create_topics
from kindred.devstack.postgres import create_databases
from kindred.kafka import EventProducer
from subgraphs.history.handlers import on_interaction_recorded
from subgraphs.history.rebuild import RebuildRefused, rebuild
from tests import history_support as make


async def _send(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = EventProducer(bootstrap)
    await producer.start()
    try:
        for value in values:
            await (await producer.send(topic, key="k", value=value, headers=[]))
    finally:
        await producer.stop()


async def test_a_rebuild_applies_what_it_can_and_counts_the_rest(infra: Any) -> None:
    topic = f"history.rebuild.test.{uuid.uuid4().hex[:8]}"
    await create_topics(infra.kafka_bootstrap, [topic], partitions=1)
    actor = uuid.uuid4()
    good = [make.reaction(actor, uuid.uuid4(), "LIKE", version=1) for _ in range(3)]
    broken = make.reaction(actor, uuid.uuid4(), "LIKE", version=1)
    broken = dataclasses.replace(broken, payload={**broken.payload, "actor_id": "nobody"})
    values = [
        good[0].to_json(),
        b"not an event",
        good[1].to_json(),
        broken.to_json(),
        good[1].to_json(),  # delivered twice
        good[2].to_json(),
    ]
    await _send(infra.kafka_bootstrap, topic, values)
    database = f"history_rebuild_{uuid.uuid4().hex[:8]}"
    create_databases(infra.postgres_url, [database])
    url = infra.database_url(database)
    seen: list[tuple[int, int, bool]] = []

    report = await rebuild(
        database_url=url,
        bootstrap=infra.kafka_bootstrap,
        handlers={topic: on_interaction_recorded},
        progress=lambda state, done: seen.append((state.read, state.total, done)),
    )
    assert (report.read, report.total) == (6, 6)
    assert (report.applied, report.duplicates, report.failed) == (3, 1, 2)
    assert report.entries == 3
    assert seen[0] == (0, 6, False) and seen[-1] == (6, 6, True)

    # A later message is read by the next rebuild, into a timeline emptied first.
    await _send(
        infra.kafka_bootstrap,
        topic,
        [make.reaction(actor, uuid.uuid4(), "PASS", version=1).to_json()],
    )
    with pytest.raises(RebuildRefused, match="--truncate"):
        await rebuild(
            database_url=url,
            bootstrap=infra.kafka_bootstrap,
            handlers={topic: on_interaction_recorded},
        )
    again = await rebuild(
        database_url=url,
        bootstrap=infra.kafka_bootstrap,
        handlers={topic: on_interaction_recorded},
        truncate=True,
    )
    assert (again.read, again.applied, again.failed, again.entries) == (7, 4, 2, 4)
