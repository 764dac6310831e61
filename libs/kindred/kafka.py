"""Kafka producer and the idempotent, ordered, dead-lettering event consumer."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from opentelemetry import trace
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Field, SQLModel, col

import kindred.columns as columns
from kindred.db import Database, UnitOfWork
from kindred.events import Event, InvalidEvent
from kindred.telemetry import context_from_kafka_headers, tracer
from kindred.topics import dead_letter_topic

log = logging.getLogger(__name__)

Handler = Callable[[UnitOfWork, Event], Awaitable[None]]


class EventProducer:
    """Sends raw messages; the outbox relay and the dead-letter path use it."""

    def __init__(self, bootstrap: str) -> None:
        # The embedded broker has no idempotent producer; consumers deduplicate instead.
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            enable_idempotence=False,
            acks="all",
            linger_ms=0,
            request_timeout_ms=10_000,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(
        self, topic: str, *, key: str, value: bytes, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[object]:
        """Queues one message; await the returned future for the broker's acknowledgement."""
        return await self._producer.send(topic, key=key.encode(), value=value, headers=headers)

    async def ping(self) -> None:
        """Raises unless the broker answers a metadata request."""
        await asyncio.wait_for(self._producer.client.fetch_all_metadata(), 2.0)


class InboxEntry(SQLModel, table=True):
    """An event a consumer has already applied; the key that makes handling idempotent."""

    __tablename__ = "inbox"

    consumer: str = Field(primary_key=True)
    event_id: uuid.UUID = Field(primary_key=True)
    topic: str
    processed_at: datetime = columns.timestamp()


async def claim_in_inbox(uow: UnitOfWork, consumer: str, event: Event) -> bool:
    """Records `event` as processed by `consumer`; False if it already was."""
    result = await uow.session.exec(
        insert(InboxEntry)
        .values(
            consumer=consumer,
            event_id=event.event_id,
            topic=event.topic,
            processed_at=datetime.now(UTC),
        )
        .on_conflict_do_nothing()
        .returning(col(InboxEntry.event_id))
    )
    return result.first() is not None


async def handle_once(uow: UnitOfWork, consumer: str, handler: Handler, event: Event) -> bool:
    """`handler` applied to `event` in `uow` with `consumer`'s inbox row, unless the inbox
    has it already (False): what makes every consumer of events idempotent."""
    claimed = await claim_in_inbox(uow, consumer, event)
    if claimed:
        await handler(uow, event)
    return claimed


class _AssignmentListener(ConsumerRebalanceListener):
    def __init__(self, assigned: asyncio.Event, committed: dict[TopicPartition, int]) -> None:
        self._assigned = assigned
        self._committed = committed

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self._assigned.clear()
        # Another member may commit these now: ask the group again when they come back.
        self._committed.clear()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._assigned.set()


class EventConsumer:
    """Applies events from Kafka to a subgraph's database, exactly once in effect.

    Each event is handled in a unit of work together with its inbox row, so a
    redelivered event changes nothing. Offsets are committed only after the
    database commit. A handler that keeps failing sends the message to
    `<topic>.dlq` and the stream moves on; nothing is dropped silently.
    """

    def __init__(
        self,
        *,
        name: str,
        database: Database,
        bootstrap: str,
        handlers: Mapping[str, Handler],
        producer: EventProducer,
        max_attempts: int = 4,
        retry_delay: float = 0.2,
        fetch_max_wait_ms: int = 50,
        quiet_fetch_max_wait_ms: int | None = None,
        quiet_after_seconds: float = 3.0,
        instance_id: str | None = None,
        session_timeout_ms: int = 30_000,
    ) -> None:
        self.name = name
        self._database = database
        self._handlers = dict(handlers)
        self._producer = producer
        self._max_attempts = max_attempts
        self._retry_delay = retry_delay
        self.assigned = asyncio.Event()
        # For metrics: events by (topic, outcome), dead letters by source topic, and the
        # offsets this member committed (or read from the group) per partition.
        self.handled: Counter[tuple[str, str]] = Counter()
        self.dead_letters: Counter[str] = Counter()
        self._committed: dict[TopicPartition, int] = {}
        # A broker that answers a waiting fetch only when the wait runs out (the embedded
        # one) makes the wait both the event latency and the idle cost: the short wait
        # while events flow, the quiet one once none came for `quiet_after_seconds`.
        self._busy_wait_ms = fetch_max_wait_ms
        self._quiet_wait_ms = max(quiet_fetch_max_wait_ms or fetch_max_wait_ms, fetch_max_wait_ms)
        self._quiet_after = quiet_after_seconds
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=name,
            group_instance_id=instance_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=fetch_max_wait_ms,
            session_timeout_ms=session_timeout_ms,
        )

    async def start(self) -> None:
        await self._consumer.start()
        self._consumer.subscribe(
            list(self._handlers), listener=_AssignmentListener(self.assigned, self._committed)
        )

    async def stop(self) -> None:
        await self._consumer.stop()

    async def run(self) -> None:
        """Consumes until cancelled."""
        last_event = time.monotonic()
        while True:
            batches = await self._consumer.getmany(timeout_ms=1000, max_records=200)
            now = time.monotonic()
            if batches:
                last_event = now
                self._set_fetch_wait(self._busy_wait_ms)
            elif now - last_event >= self._quiet_after:
                self._set_fetch_wait(self._quiet_wait_ms)
            for partition, records in batches.items():
                await self._process_batch(partition, records)

    @property
    def fetch_wait_ms(self) -> int:
        """How long the consumer's fetches wait for news now (see `_set_fetch_wait`)."""
        fetcher = getattr(self._consumer, "_fetcher", None)
        return int(getattr(fetcher, "_fetch_max_wait_ms", self._busy_wait_ms))

    def _set_fetch_wait(self, wait_ms: int) -> None:
        """The next fetches wait `wait_ms`. aiokafka reads its fetcher's wait for every
        fetch it sends but offers no setter; on a version without that attribute the
        wait stays as configured."""
        fetcher = getattr(self._consumer, "_fetcher", None)
        if fetcher is not None and hasattr(fetcher, "_fetch_max_wait_ms"):
            fetcher._fetch_max_wait_ms = wait_ms

    async def _process_batch(
        self, partition: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]
    ) -> None:
        last_done: int | None = None
        try:
            for record in records:
                await self._process(record)
                last_done = record.offset
        except Exception as error:
            # The database or the dead-letter topic is down: rewind and try the record again.
            resume_at = records[0].offset if last_done is None else last_done + 1
            log.error("%s: stalled at %s@%d: %r", self.name, partition, resume_at, error)
            self._consumer.seek(partition, resume_at)
            await asyncio.sleep(1.0)
        if last_done is not None:
            try:
                await self._consumer.commit({partition: last_done + 1})
                self._committed[partition] = last_done + 1
            except Exception as error:
                # Redelivery after a failed commit is harmless: the inbox drops duplicates.
                log.warning("%s: offset commit failed: %r", self.name, error)

    async def _process(self, record: ConsumerRecord[bytes, bytes]) -> None:
        parent = context_from_kafka_headers(record.headers)
        with tracer.start_as_current_span(
            f"consume {record.topic}", context=parent, kind=trace.SpanKind.CONSUMER
        ) as span:
            span.set_attribute("messaging.system", "kafka")
            span.set_attribute("messaging.destination.name", record.topic)
            span.set_attribute("messaging.consumer.group.name", self.name)
            span.set_attribute("messaging.destination.partition.id", str(record.partition))
            span.set_attribute("messaging.kafka.offset", record.offset)
            try:
                event = Event.from_json(record.value)
            except InvalidEvent as error:
                await self._dead_letter(record, error)
                return
            span.set_attribute("messaging.message.id", str(event.event_id))
            handler = self._handlers[record.topic]
            for attempt in range(1, self._max_attempts + 1):
                try:
                    applied = await self._apply(handler, event)
                    outcome = "applied" if applied else "duplicate"
                    span.set_attribute("kindred.consumer.outcome", outcome)
                    self.handled[record.topic, outcome] += 1
                    return
                except Exception as error:
                    log.warning(
                        "%s: %s %s failed (attempt %d/%d): %r",
                        self.name,
                        record.topic,
                        event.event_id,
                        attempt,
                        self._max_attempts,
                        error,
                    )
                    if attempt == self._max_attempts:
                        span.record_exception(error)
                        if not await self._database_answers():
                            # The database is failing, not the message: rewind and wait.
                            raise
                        await self._dead_letter(record, error)
                        return
                    await asyncio.sleep(self._retry_delay * 2 ** (attempt - 1))

    async def _database_answers(self) -> bool:
        try:
            async with asyncio.timeout(2.0):  # not wait_for, which can swallow a cancellation
                await self._database.ping()
        except Exception:
            return False
        return True

    async def _apply(self, handler: Handler, event: Event) -> bool:
        """Handles `event` once; False if the inbox says it already was."""
        async with self._database.unit_of_work() as uow:
            claimed = await handle_once(uow, self.name, handler, event)
            await uow.commit()
        return claimed

    async def _dead_letter(self, record: ConsumerRecord[bytes, bytes], error: Exception) -> None:
        """Parks the message on `<topic>.dlq`; raises if even that fails, so it is retried."""
        headers = [
            *(record.headers or ()),
            ("kindred-error", repr(error)[:1000].encode()),
            ("kindred-original-topic", record.topic.encode()),
            ("kindred-original-offset", str(record.offset).encode()),
            ("kindred-consumer", self.name.encode()),
        ]
        log.error("%s: dead-lettering %s@%d: %r", self.name, record.topic, record.offset, error)
        delivery = await self._producer.send(
            dead_letter_topic(record.topic),
            key=(record.key or b"").decode(errors="replace"),
            value=record.value or b"",
            headers=headers,
        )
        await delivery
        self.dead_letters[record.topic] += 1
        self.handled[record.topic, "dead_lettered"] += 1

    async def lag(self) -> dict[TopicPartition, int]:
        """Per assigned partition: its end offset, asked of the broker now, minus the
        group's committed offset. (The high-water mark of the last fetch would go stale
        exactly when lag matters: while a handler holds the partition, nothing is fetched.)"""
        assigned = list(self._consumer.assignment())
        if not assigned:
            return {}
        ends = await self._consumer.end_offsets(assigned)
        lag: dict[TopicPartition, int] = {}
        for partition in assigned:
            end = ends[partition]
            done = self._committed.get(partition)
            if done is None and end > 0:
                # Nothing committed by this member yet: ask the group (once; our commits
                # keep it current); before the group's first commit the position stands in.
                committed = await self._consumer.committed(partition)
                if committed is None:
                    done = await self._consumer.position(partition)
                else:
                    done = self._committed.setdefault(partition, committed)
            lag[partition] = max(end - (done or 0), 0)
        return lag
