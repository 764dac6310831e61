"""A consumer killed in the middle of the stream resumes without losing or repeating work."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from kindred.events import Event
from kindred.kafka import EventProducer
from tests.integration.platform.conftest import new_topic, query
from tests.support import eventually

REPO_ROOT = Path(__file__).resolve().parents[3]
AGGREGATES = 30
VERSIONS = 10
DELAY = 0.02  # per event, inside its transaction: about 6 s for the whole stream


async def spawn_consumer(url: str, bootstrap: str, topic: str, name: str, log: Path):
    with log.open("ab") as output:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.platform.crash_consumer",
            url,
            bootstrap,
            topic,
            name,
            str(DELAY),
            cwd=REPO_ROOT,
            stdout=output,
            stderr=output,
        )


async def committed_offsets(bootstrap: str, group: str, topic: str) -> list[int]:
    """The group's committed offset on each partition of `topic` (0 where none)."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        await reader.topics()
        partitions = sorted(reader.partitions_for_topic(topic) or ())
        return [await reader.committed(TopicPartition(topic, p)) or 0 for p in partitions]
    finally:
        await reader.stop()


async def applied_count(url: str) -> int:
    return (await query(url, "SELECT count(*) FROM applied"))[0][0]


async def test_a_consumer_killed_mid_stream_resumes_without_loss_or_double_application(
    infra, producer: EventProducer, scratch_db_url: str, tmp_path: Path
):
    topic = await new_topic(infra.kafka_bootstrap, "consumer-crash")
    name = f"platform-test-crash-{uuid.uuid4().hex[:8]}"
    events = [
        Event(
            topic=topic,
            aggregate_id=f"agg-{n:02d}",
            aggregate_version=version,
            payload={"value": f"agg-{n:02d}@{version}"},
        )
        for version in range(1, VERSIONS + 1)
        for n in range(AGGREGATES)
    ]
    deliveries = [
        await producer.send(topic, key=e.key, value=e.to_json(), headers=[]) for e in events
    ]
    await asyncio.gather(*deliveries)

    log = tmp_path / "consumer.log"
    first = await spawn_consumer(scratch_db_url, infra.kafka_bootstrap, topic, name, log)
    second = None
    try:
        await eventually(
            lambda: _at_least(scratch_db_url, 40), within=60.0, what="first events applied"
        )
        first.kill()  # SIGKILL: no clean shutdown, no offset commit, no leaving the group
        await first.wait()
        applied_before_restart = await applied_count(scratch_db_url)
        assert 40 <= applied_before_restart < len(events), "not killed mid-stream"
        # Some applied events were not committed yet: the restart gets them again.
        committed = await committed_offsets(infra.kafka_bootstrap, name, topic)
        assert sum(committed) < applied_before_restart, committed

        second = await spawn_consumer(scratch_db_url, infra.kafka_bootstrap, topic, name, log)
        await eventually(
            lambda: _at_least(scratch_db_url, len(events)),
            within=90.0,
            what="every event applied after the restart",
        )
        # And the restarted consumer commits its progress to the end of the topic.
        await eventually(
            lambda: _committed_total(infra.kafka_bootstrap, name, topic, len(events)),
            within=10.0,
            what="offsets committed to the end",
        )
        await asyncio.sleep(0.5)  # room for redelivered events to (wrongly) apply again
    finally:
        for process in (first, second):
            if process is not None and process.returncode is None:
                process.kill()
                with contextlib.suppress(ProcessLookupError):
                    await process.wait()

    copies = await query(scratch_db_url, "SELECT id, version, value FROM copies ORDER BY id")
    assert copies == [
        (f"agg-{n:02d}", VERSIONS, f"agg-{n:02d}@{VERSIONS}") for n in range(AGGREGATES)
    ]
    inbox = await query(
        scratch_db_url, "SELECT event_id FROM inbox WHERE consumer = %s ORDER BY event_id", name
    )
    assert sorted(row[0] for row in inbox) == sorted(e.event_id for e in events)
    per_event = await query(
        scratch_db_url, "SELECT event_id, count(*) FROM applied GROUP BY event_id"
    )
    assert len(per_event) == len(events)
    assert {count for _, count in per_event} == {1}, log.read_text()[-2000:]


async def _at_least(url: str, count: int) -> bool:
    return await applied_count(url) >= count


async def _committed_total(bootstrap: str, group: str, topic: str, total: int) -> bool:
    return sum(await committed_offsets(bootstrap, group, topic)) == total
