"""Prometheus metrics of one subgraph process, served on `GET /metrics`.

Each app keeps its own registry (several apps may share a process, as in the tests), and
every sample carries the `subgraph` label. What happens per request costs one counter
increment and one histogram observation; everything else is read when Prometheus scrapes:
the outbox's backlog with one query on its partial index of pending rows, the consumer's
lag from what the client already knows, and the plain counters the cache, relay, consumer
and connection pools keep. A scrape answers even when the database or the broker does not
(the parts it cannot read are left out, and `kindred_outbox_stats_up` says so).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response

from kindred import heap

if TYPE_CHECKING:
    from kindred.cache import Cache
    from kindred.db import Database
    from kindred.kafka import EventConsumer
    from kindred.relay import OutboxRelay

log = logging.getLogger(__name__)

# Operation names are the client's words: cut to a length, and past this many distinct
# (type, name) pairs per process every new one is counted as "other".
MAX_OPERATION_NAME = 64
MAX_OPERATIONS = 200
ANONYMOUS = "anonymous"
OTHER = "other"
# No operation could be told: refused before GraphQL, did not parse, or named none it holds.
NO_OPERATION = "none"

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# How long a scrape waits for the outbox query (server side and in all, connecting included).
OUTBOX_STATEMENT_TIMEOUT_MS = 500
OUTBOX_QUERY_TIMEOUT_SECONDS = 1.0
# How long a scrape waits for the broker to say where the group stands on its partitions.
LAG_TIMEOUT_SECONDS = 1.0

# The partial index ix_outbox_pending holds exactly these rows: no scan of published ones.
_OUTBOX_STATS = text(
    """
    SELECT count(*) AS pending,
           count(*) FILTER (WHERE attempts > 0) AS retrying,
           EXTRACT(EPOCH FROM clock_timestamp() - min(created_at)) AS oldest_age
    FROM outbox
    WHERE published_at IS NULL AND failed_at IS NULL
    """
)
_STATEMENT_TIMEOUT = text(f"SET LOCAL statement_timeout = {OUTBOX_STATEMENT_TIMEOUT_MS}")


@dataclass(slots=True)
class _Measured:
    """The counter and histogram children of one (operation type, operation name)."""

    requests: Counter
    latency: Histogram


class Metrics:
    """One subgraph process's metrics: recorded by the app, rendered by `GET /metrics`."""

    def __init__(self, subgraph: str) -> None:
        self.subgraph = subgraph
        self.registry = CollectorRegistry(auto_describe=False)
        labels = ["subgraph", "operation_type", "operation_name"]
        self._requests = Counter(
            "kindred_graphql_requests",
            "GraphQL requests answered over HTTP, by operation.",
            labels,
            registry=self.registry,
        )
        self._latency = Histogram(
            "kindred_graphql_request_duration_seconds",
            "Time to answer a GraphQL request over HTTP, by operation.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._errors = Counter(
            "kindred_graphql_errors",
            "Errors answered, by extensions.code (refusals before GraphQL included).",
            ["subgraph", "code"],
            registry=self.registry,
        )
        self._subscriptions = Counter(
            "kindred_graphql_subscriptions_started",
            "Operations started over WebSocket (graphql-transport-ws).",
            ["subgraph"],
            registry=self.registry,
        ).labels(subgraph)
        self._active_subscriptions = Gauge(
            "kindred_graphql_subscriptions_active",
            "Operations running over WebSocket now.",
            ["subgraph"],
            registry=self.registry,
        ).labels(subgraph)
        self._measured: dict[tuple[str, str], _Measured] = {}
        self._overflow: dict[tuple[str, str], _Measured] = {}  # the "other" of each type
        self._error_children: dict[str, Counter] = {}
        self.platform = _PlatformCollector(subgraph)
        self.registry.register(self.platform)
        self._scrape_lock = asyncio.Lock()

    # -- recorded per request -------------------------------------------------------------

    def request(self, operation_type: str, operation_name: str | None, seconds: float) -> None:
        """Counts one answered request and its latency."""
        key = (operation_type, operation_name or ANONYMOUS)
        measured = self._measured.get(key)
        if measured is None:
            measured = self._measure(key)
        measured.requests.inc()
        measured.latency.observe(seconds)

    def _measure(self, key: tuple[str, str]) -> _Measured:
        operation_type, name = key
        full = len(self._measured) >= MAX_OPERATIONS
        if full and (operation_type, OTHER) in self._overflow:
            return self._overflow[operation_type, OTHER]
        labels = (self.subgraph, operation_type, OTHER if full else name[:MAX_OPERATION_NAME])
        measured = _Measured(self._requests.labels(*labels), self._latency.labels(*labels))
        if full:
            self._overflow[operation_type, OTHER] = measured
        else:
            self._measured[key] = measured
        return measured

    def error(self, code: object) -> None:
        """Counts one error answered with `code` (its extensions.code)."""
        key = code if isinstance(code, str) else "NONE"
        child = self._error_children.get(key)
        if child is None:
            # Codes are the platform's own (kindred.errors.ErrorCode): a short, fixed list.
            child = self._errors.labels(self.subgraph, key[:MAX_OPERATION_NAME])
            self._error_children[key] = child
        child.inc()

    def subscription_started(self) -> None:
        self._subscriptions.inc()
        self._active_subscriptions.inc()

    def subscription_ended(self) -> None:
        self._active_subscriptions.dec()

    # -- read when scraped ----------------------------------------------------------------

    def watch(
        self,
        *,
        database: Database | None = None,
        cache: Cache | None = None,
        relay: OutboxRelay | None = None,
        consumer: EventConsumer | None = None,
    ) -> None:
        """The platform parts whose state a scrape reports."""
        self.platform.database = database
        self.platform.cache = cache
        self.platform.relay = relay
        self.platform.consumer = consumer

    async def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """Every metric, the scrape-time ones read now, in the format `accept` asks for
        (Prometheus' text format 0.0.4 unless it names a newer one or OpenMetrics), and
        that format's content type."""
        encode, content_type = choose_encoder(accept or "")
        async with self._scrape_lock:  # one snapshot at a time
            await self.platform.refresh()
            return encode(self.registry), content_type


async def serve_metrics(request: Request) -> Response:
    """`GET /metrics`: Prometheus' exposition format."""
    metrics: Metrics = request.app.state.metrics
    body, content_type = await metrics.render(request.headers.get("accept"))
    return Response(body, headers={"content-type": content_type})


@dataclass(slots=True)
class _Snapshot:
    """What a scrape read asynchronously, for the collector's synchronous `collect`."""

    outbox: tuple[int, int, float] | None = None
    lag: dict[tuple[str, int], int] | None = None


class _PlatformCollector(Collector):
    """The platform's state, as it is at scrape time."""

    def __init__(self, subgraph: str) -> None:
        self.subgraph = subgraph
        self.database: Database | None = None
        self.cache: Cache | None = None
        self.relay: OutboxRelay | None = None
        self.consumer: EventConsumer | None = None
        self._snapshot = _Snapshot()

    async def refresh(self) -> None:
        outbox, lag = await asyncio.gather(self._outbox(), self._lag())
        self._snapshot = _Snapshot(outbox, lag)

    async def _outbox(self) -> tuple[int, int, float] | None:
        if self.database is None:
            return None
        try:
            return await asyncio.wait_for(
                _outbox_stats(self.database), OUTBOX_QUERY_TIMEOUT_SECONDS
            )
        except Exception as error:
            log.warning("metrics: cannot read the outbox: %r", error)
            return None

    async def _lag(self) -> dict[tuple[str, int], int] | None:
        if self.consumer is None:
            return None
        try:
            lag = await asyncio.wait_for(self.consumer.lag(), LAG_TIMEOUT_SECONDS)
        except Exception as error:
            log.warning("metrics: cannot read the consumer's lag: %r", error)
            return None
        return {(tp.topic, tp.partition): behind for tp, behind in lag.items()}

    def collect(self) -> Iterator[Metric]:
        yield from self._outbox_metrics()
        yield from self._consumer_metrics()
        yield from self._cache_metrics()
        yield from self._pool_metrics()
        yield from self._heap_metrics()

    def _gauge(self, name: str, documentation: str, value: float) -> GaugeMetricFamily:
        family = GaugeMetricFamily(name, documentation, labels=["subgraph"])
        family.add_metric([self.subgraph], value)
        return family

    def _counter(self, name: str, documentation: str, value: float) -> CounterMetricFamily:
        family = CounterMetricFamily(name, documentation, labels=["subgraph"])
        family.add_metric([self.subgraph], value)
        return family

    def _outbox_metrics(self) -> Iterator[Metric]:
        if self.database is None:
            return
        stats = self._snapshot.outbox
        yield self._gauge(
            "kindred_outbox_stats_up",
            "1 if the last scrape could read the outbox, else 0 (its gauges are then absent).",
            0 if stats is None else 1,
        )
        if stats is not None:
            pending, retrying, oldest_age = stats
            yield self._gauge(
                "kindred_outbox_pending_rows", "Outbox events not yet published.", pending
            )
            yield self._gauge(
                "kindred_outbox_retrying_rows",
                "Pending outbox events whose publishing already failed at least once.",
                retrying,
            )
            yield self._gauge(
                "kindred_outbox_oldest_pending_age_seconds",
                "Age of the oldest unpublished outbox event (0 when none waits).",
                oldest_age,
            )
        if self.relay is not None:
            yield self._counter(
                "kindred_outbox_published",
                "Outbox events this process published.",
                self.relay.published,
            )
            yield self._counter(
                "kindred_outbox_failed",
                "Outbox events this process gave up on (the broker refused them for good; "
                "the rows keep failed_at and last_error).",
                self.relay.failed,
            )

    def _consumer_metrics(self) -> Iterator[Metric]:
        consumer = self.consumer
        if consumer is None:
            return
        lag = GaugeMetricFamily(
            "kindred_consumer_lag",
            "Events on a partition assigned to this consumer that its group has not "
            "committed yet (the partition's end offset minus the committed offset).",
            labels=["subgraph", "topic", "partition"],
        )
        for (topic, partition), behind in sorted((self._snapshot.lag or {}).items()):
            lag.add_metric([self.subgraph, topic, str(partition)], behind)
        yield lag
        handled = CounterMetricFamily(
            "kindred_consumer_events",
            "Events consumed, by topic and outcome: applied, duplicate (already in the "
            "inbox) or dead_lettered.",
            labels=["subgraph", "topic", "outcome"],
        )
        for (topic, outcome), count in sorted(consumer.handled.items()):
            handled.add_metric([self.subgraph, topic, outcome], count)
        yield handled
        dead = CounterMetricFamily(
            "kindred_consumer_dead_letters",
            "Messages sent to <topic>.dlq, by the topic they came from.",
            labels=["subgraph", "topic"],
        )
        for topic, count in sorted(consumer.dead_letters.items()):
            dead.add_metric([self.subgraph, topic], count)
        yield dead

    def _cache_metrics(self) -> Iterator[Metric]:
        if self.cache is None:
            return
        yield self._counter("kindred_cache_hits", "Keys found in the Redis cache.", self.cache.hits)
        yield self._counter(
            "kindred_cache_misses",
            "Keys not found in the Redis cache (or asked while it was unreachable).",
            self.cache.misses,
        )

    def _pool_metrics(self) -> Iterator[Metric]:
        if self.database is None:
            return
        pool = self.database.pool_status()
        for name, documentation, value in (
            ("kindred_db_pool_size", "Connections the database pool keeps.", pool.size),
            (
                "kindred_db_pool_checked_out",
                "Pool connections in use now.",
                pool.checked_out,
            ),
            (
                "kindred_db_pool_overflow",
                "Connections open beyond the pool's size (negative: not yet opened).",
                pool.overflow,
            ),
            (
                "kindred_db_hot_reads_open",
                "Connections open for the hottest reads (Database.fetch), beside the pool.",
                pool.hot_reads_open,
            ),
            (
                "kindred_db_hot_reads_in_use",
                "Hot-read connections in use now.",
                pool.hot_reads_in_use,
            ),
        ):
            yield self._gauge(name, documentation, value)

    def _heap_metrics(self) -> Iterator[Metric]:
        yield self._gauge(
            "kindred_heap_frozen_objects",
            "Objects frozen once start-up was done, which the garbage collector no longer "
            "walks (kindred.heap; 0 until then, or with KINDRED_SETTLE_HEAP=0).",
            heap.frozen_objects(),
        )
        collections = CounterMetricFamily(
            "kindred_gc_collections",
            "Garbage collections of the process, by generation (2 walks every object not frozen).",
            labels=["subgraph", "generation"],
        )
        for generation, stats in enumerate(gc.get_stats()):
            collections.add_metric([self.subgraph, str(generation)], stats["collections"])
        yield collections


async def _outbox_stats(database: Database) -> tuple[int, int, float]:
    """(pending, retrying, age of the oldest pending in seconds) in one statement."""
    async with database.engine.connect() as connection:
        await connection.execute(_STATEMENT_TIMEOUT)
        row = (await connection.execute(_OUTBOX_STATS)).one()
        await connection.rollback()
    return int(row.pending), int(row.retrying), float(row.oldest_age or 0.0)
