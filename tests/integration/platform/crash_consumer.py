"""A consumer process for the crash test: applies one topic to the read model until killed.

    python -m tests.integration.platform.crash_consumer DATABASE_URL BOOTSTRAP TOPIC NAME DELAY

DELAY (seconds) slows each event down inside its transaction, so the test can kill the
process in the middle of a batch, between database commits and the offset commit.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from kindred.db import Database, UnitOfWork
from kindred.events import Event
from kindred.kafka import EventConsumer, EventProducer
from tests.integration.platform.readmodel import apply_if_newer


async def main(url: str, bootstrap: str, topic: str, name: str, delay: float) -> None:
    async def slow_apply(uow: UnitOfWork, event: Event) -> None:
        await apply_if_newer(uow, event)
        await asyncio.sleep(delay)

    database = Database(url, pool_size=2, max_overflow=0)
    producer = EventProducer(bootstrap)
    await producer.start()
    consumer = EventConsumer(
        name=name,
        database=database,
        bootstrap=bootstrap,
        handlers={topic: slow_apply},
        producer=producer,
        instance_id=f"{name}-1",  # a static member: the restart takes its place sooner
    )
    await consumer.start()
    run = asyncio.create_task(consumer.run())
    await consumer.assigned.wait()
    print("assigned", flush=True)
    await run  # until SIGKILL


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    url, bootstrap, topic, name, delay = sys.argv[1:6]
    asyncio.run(main(url, bootstrap, topic, name, float(delay)))
