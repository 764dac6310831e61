"""A consumer killed in the middle of the stream resumes without losing or repeating work."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from pathlib import Path

from kindred.events import Event
from kindred.kafka import EventProducer
from tests.integration.platform.conftest import eventually, new_topic, query

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
            lambda: _at_least(scratch_db_url, 40), timeout=60.0, what="first events applied"
        )
        first.kill()  # SIGKILL: no clean shutdown, no offset commit, no leaving the group
        await first.wait()
        applied_before_restart = await applied_count(scratch_db_url)
        assert 40 <= applied_before_restart < len(events), "not killed mid-stream"

        second = await spawn_consumer(scratch_db_url, infra.kafka_bootstrap, topic, name, log)
        await eventually(
            lambda: _at_least(scratch_db_url, len(events)),
            timeout=90.0,
            what="every event applied after the restart",
        )
        await asyncio.sleep(1.0)  # room for redelivered events to (wrongly) apply again
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
