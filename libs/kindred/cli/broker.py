"""What the broker commands share: clients on `KINDRED_KAFKA_BOOTSTRAP`, and every
partition's beginning and end offsets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, TopicPartition
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
