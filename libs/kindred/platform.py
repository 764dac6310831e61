"""The running parts a subgraph process shares: database, cache, broker, auth, background work."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from kindred.auth import TokenVerifier, trusted_verifier
from kindred.cache import Cache
from kindred.db import Database
from kindred.kafka import EventConsumer, EventProducer, Handler
from kindred.migrations import upgrade
from kindred.ratelimit import RateLimiter
from kindred.relay import OutboxRelay
from kindred.retention import prune
from kindred.settings import Settings

log = logging.getLogger(__name__)

# How long a stopping process waits for its consumer to close (a group join can take
# most of the session timeout).
CONSUMER_STOP_SECONDS = 3


class Platform:
    """Owns one subgraph's connections and its relay and consumer tasks."""

    def __init__(
        self,
        settings: Settings,
        *,
        migrations_dir: Path,
        handlers: Mapping[str, Handler] | None = None,
        verifier: TokenVerifier | None = None,
        state: Any = None,
    ) -> None:
        self.settings = settings
        # The subgraph's own long-lived objects (e.g. the user subgraph's token issuer).
        self.state = state
        self.migrations_dir = migrations_dir
        self.db = Database(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
        self.cache = Cache(
            settings.redis_url, namespace=settings.subgraph, ttl_seconds=settings.cache_ttl_seconds
        )
        # Rate limits shared by every replica (sign-in attempts, reports), in Redis.
        self.limiter = RateLimiter(settings.redis_url, namespace=settings.subgraph)
        self.producer = EventProducer(settings.kafka_bootstrap)
        self.relay = OutboxRelay(self.db, self.producer)
        self.consumer = (
            EventConsumer(
                name=f"{settings.subgraph}-subgraph",
                database=self.db,
                bootstrap=settings.kafka_bootstrap,
                handlers=handlers,
                producer=self.producer,
                fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
                quiet_fetch_max_wait_ms=settings.consumer_quiet_fetch_max_wait_ms,
                instance_id=settings.instance_id,
                session_timeout_ms=settings.consumer_session_timeout_ms,
            )
            if handlers
            else None
        )
        self.verifier = verifier or trusted_verifier(settings)
        self.http = httpx.AsyncClient(timeout=5.0)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if self.settings.migrate_on_start:
            await asyncio.to_thread(upgrade, self.settings.database_url, self.migrations_dir)
        await _retry("the broker", self.settings.kafka_bootstrap, self.producer.start)
        self.supervise("outbox-relay", self.relay.run)
        self.supervise("retention", self._prune_hourly)
        if self.consumer is not None:
            await _retry("the broker", self.settings.kafka_bootstrap, self.consumer.start)
            self.supervise("event-consumer", self.consumer.run)

    async def _prune_hourly(self) -> None:
        while True:
            outbox, inbox = await prune(self.db)
            if outbox or inbox:
                log.info("retention: pruned %d outbox and %d inbox rows", outbox, inbox)
            await asyncio.sleep(3600)

    def supervise(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Runs `run` in the background until `stop()`, restarting it if it crashes."""

        async def forever() -> None:
            while True:
                try:
                    await run()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("%s crashed; restarting in 1 s", name)
                    await asyncio.sleep(1.0)

        self._tasks.append(asyncio.create_task(forever(), name=name))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.consumer is not None:
            try:
                await asyncio.wait_for(self.consumer.stop(), CONSUMER_STOP_SECONDS)
            except TimeoutError:
                # Stopped while still joining its group: the join answers only when the
                # group settles. Offsets are committed as events are handled, so nothing
                # is lost by not waiting; the broker drops the member after its session.
                log.warning("the event consumer did not stop within %d s", CONSUMER_STOP_SECONDS)
        await self.producer.stop()
        await self.cache.close()
        await self.limiter.close()
        await self.http.aclose()
        await self.db.dispose()


async def _retry(what: str, where: str, start: Callable[[], Awaitable[None]]) -> None:
    for attempt in range(30):
        try:
            await start()
            return
        except Exception as error:
            if attempt == 29:
                raise RuntimeError(
                    f"cannot reach {what} at {where}: {error!r}. Start it (`make dev` does) "
                    "or point the KINDRED_* variables at a running one."
                ) from error
            await asyncio.sleep(1.0)
