"""What the broker commands share: clients on `KINDRED_KAFKA_BOOTSTRAP`, every partition of
some topics, and reading partitions from their beginning to their end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from kindred.settings import load_settings


def bootstrap() -> str:
    return load_settings("kindred").kafka_bootstrap


@asynccontextmanager
async def admin_client(servers: str) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=10_000)
    await client.start()
    try:
        yield client
    finally:
        await client.close()


@asynccontextmanager
async def offsets_client(servers: str, group: str | None = None) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer used for offsets only (subscribed to nothing; `group` to commit)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=10_000,
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def partitions(consumer: AIOKafkaConsumer, topics: list[str]) -> list[TopicPartition]:
    """Every partition of `topics`, in order."""
    await consumer._client.force_metadata_update()
    found = []
    for topic in topics:
        for number in sorted(consumer.partitions_for_topic(topic) or ()):
            found.append(TopicPartition(topic, number))
    return found


async def topic_names(consumer: AIOKafkaConsumer) -> list[str]:
    return sorted(await consumer.topics())


Offsets = dict[TopicPartition, int]


async def bounds(
    consumer: AIOKafkaConsumer, parts: list[TopicPartition]
) -> tuple[Offsets, Offsets]:
    """Each partition's first offset and its end offset (the next one to be written)."""
    return await consumer.beginning_offsets(parts), await consumer.end_offsets(parts)


async def read_to_end(
    consumer: AIOKafkaConsumer,
    parts: list[TopicPartition],
    begins: Offsets,
    ends: Offsets,
    *,
    batch: int = 500,
) -> AsyncIterator[tuple[TopicPartition, list[ConsumerRecord[bytes, bytes]]]]:
    """Every record of `parts` from `begins` up to `ends` (`bounds` as of the start: what
    is written meanwhile is left for later), in batches of one partition's records. The
    consumer is assigned `parts`; it commits nothing."""
    if not parts:
        return
    consumer.assign(parts)
    for part in parts:
        consumer.seek(part, begins[part])
    remaining = {part for part in parts if ends[part] > begins[part]}
    while remaining:
        batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=batch)
        for part, records in batches.items():
            wanted = [record for record in records if record.offset < ends[part]]
            if wanted:
                yield part, wanted
            if await consumer.position(part) >= ends[part]:
                remaining.discard(part)
