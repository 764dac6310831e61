"""The outbox relay: publishes the outbox's pending rows to Kafka, in order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import psycopg
from aiokafka.errors import MessageSizeTooLargeError
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, StatusCode
from sqlmodel import col, select

from kindred.db import Database
from kindred.kafka import EventProducer
from kindred.outbox import OUTBOX_CHANNEL, OutboxMessage
from kindred.telemetry import tracer

log = logging.getLogger(__name__)


def _publish_span(row: OutboxMessage) -> Span | None:
    """A producer span for `row`, in the trace it was written in; None if untraced."""
    parent = propagate.extract(row.headers)
    if not trace.get_current_span(parent).get_span_context().is_valid:
        return None
    span = tracer.start_span(f"publish {row.topic}", context=parent, kind=trace.SpanKind.PRODUCER)
    span.set_attribute("messaging.system", "kafka")
    span.set_attribute("messaging.destination.name", row.topic)
    span.set_attribute("messaging.message.id", str(row.event_id))
    span.set_attribute("messaging.kafka.message.key", row.key)
    span.set_attribute("kindred.outbox.id", row.id or 0)
    span.set_attribute("kindred.outbox.attempts", row.attempts + 1)
    return span


class OutboxRelay:
    """Publishes unpublished outbox rows in order; woken by NOTIFY, polls as a fallback.

    A row is marked published only after the broker acknowledged it, so a crash
    re-sends rather than loses (consumers deduplicate by event id).
    """

    def __init__(
        self,
        database: Database,
        producer: EventProducer,
        *,
        batch_size: int = 200,
        poll_interval: float = 1.0,
    ) -> None:
        self._database = database
        self._producer = producer
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._wakeup = asyncio.Event()
        # Events this process published, and gave up on (for metrics).
        self.published = 0
        self.failed = 0

    async def publish_pending(self) -> int:
        """Publishes one batch of pending rows in order; returns how many were sent.

        A row the broker refuses for good (too large) is marked failed and skipped;
        if the broker is unreachable, the rows stay pending and this raises.
        """
        async with self._database.session() as session, session.begin():
            rows = (
                await session.exec(
                    select(OutboxMessage)
                    .where(
                        col(OutboxMessage.published_at).is_(None),
                        col(OutboxMessage.failed_at).is_(None),
                    )
                    .order_by(col(OutboxMessage.id))
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            results = await self._send_in_order(rows)
            now = datetime.now(UTC)
            unreachable: BaseException | None = None
            for row, result in zip(rows, results, strict=True):
                row.attempts += 1
                if result is None:
                    row.published_at = now
                    continue
                row.last_error = repr(result)[:1000]
                if isinstance(result, MessageSizeTooLargeError):
                    row.failed_at = now
                    self.failed += 1
                    log.error("outbox: event %s can never be published: %r", row.event_id, result)
                else:
                    unreachable = unreachable or result
        sent = sum(result is None for result in results)
        self.published += sent
        if unreachable is not None:
            log.warning("outbox: publishing failed, will retry: %r", unreachable)
            raise unreachable
        return sent

    async def _send_in_order(self, rows: Sequence[OutboxMessage]) -> list[BaseException | None]:
        """Queues every row (in order, so one key keeps its order), then awaits the acks.

        A row written in a traced request gets a producer span, a child of the outbox
        write's, whose context travels in the message's headers to the consumer.
        """
        deliveries: list[asyncio.Future[object] | BaseException] = []
        spans: list[Span | None] = []
        for row in rows:
            span = _publish_span(row)
            spans.append(span)
            headers = dict(row.headers)
            if span is not None:
                propagate.inject(headers, context=trace.set_span_in_context(span))
            try:
                deliveries.append(
                    await self._producer.send(
                        row.topic,
                        key=row.key,
                        value=row.value,
                        headers=[(k, str(v).encode()) for k, v in headers.items()],
                    )
                )
            except MessageSizeTooLargeError as error:
                deliveries.append(error)
            except Exception as error:
                # The broker itself: this row and every one after it wait for the next round.
                deliveries.extend(error for _ in rows[len(deliveries) :])
                break
        results: list[BaseException | None] = []
        for delivery in deliveries:
            if isinstance(delivery, BaseException):
                results.append(delivery)
                continue
            try:
                await delivery
                results.append(None)
            except Exception as error:
                results.append(error)
        for span, result in zip(spans, results, strict=False):
            if span is None:
                continue
            if result is not None:
                span.record_exception(result)
                span.set_status(StatusCode.ERROR, repr(result)[:200])
            span.end()
        for span in spans[len(results) :]:
            if span is not None:
                span.end()
        return results

    async def run(self) -> None:
        """Publishes forever; cancel the task to stop."""
        listener = asyncio.create_task(self._listen())
        backoff = 0.1
        try:
            while True:
                try:
                    while await self.publish_pending() == self._batch_size:
                        pass
                    backoff = 0.1
                except asyncio.CancelledError:
                    raise
                except Exception:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
                # cancellation that lands as the wake-up does, and the relay would outlive
                # its platform's stop().
                try:
                    async with asyncio.timeout(self._poll_interval):
                        await self._wakeup.wait()
                except TimeoutError:
                    pass
                self._wakeup.clear()
        finally:
            listener.cancel()

    async def _listen(self) -> None:
        """Sets the wake-up flag on every NOTIFY; reconnects when the connection drops."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._database.url, autocommit=True
                ) as connection:
                    await connection.execute(f"LISTEN {OUTBOX_CHANNEL}")
                    self._wakeup.set()
                    async for _ in connection.notifies():
                        self._wakeup.set()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("outbox: LISTEN connection lost (%r); polling until it is back", error)
                await asyncio.sleep(1.0)
