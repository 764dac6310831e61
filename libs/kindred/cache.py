"""Redis cache-aside with TTLs; the service keeps answering when Redis is down."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping

import redis.asyncio as redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class Cache:
    """A namespaced view of Redis that never raises.

    Readers fill with `add_many` (set-if-absent) and writers overwrite with `put`
    after their commit, so a slow reader cannot put back a value a writer replaced.
    While Redis is unreachable every call is a miss, and invalidations that could
    not be sent are retried once Redis answers again.
    """

    def __init__(
        self, url: str, *, namespace: str, ttl_seconds: int, retry_after: float = 2.0
    ) -> None:
        self._redis = redis.Redis.from_url(
            url, socket_timeout=0.25, socket_connect_timeout=0.25, health_check_interval=0
        )
        self._namespace = namespace
        self.ttl_seconds = ttl_seconds
        self._retry_after = retry_after
        self._down_until = 0.0
        self._pending_invalidations: set[str] = set()
        # Keys asked for and found, or not (a miss also while Redis is unreachable).
        self.hits = 0
        self.misses = 0

    def _key(self, key: str) -> str:
        return f"{self._namespace}:{key}"

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _mark_down(self, error: Exception) -> None:
        if self.available:
            log.warning("cache: Redis unreachable (%r); serving from the database", error)
        self._down_until = time.monotonic() + self._retry_after

    async def _flush_pending_invalidations(self) -> None:
        if self._pending_invalidations:
            keys = list(self._pending_invalidations)
            await self._redis.delete(*keys)
            self._pending_invalidations.difference_update(keys)

    async def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        """The cached values of those `keys` that are cached."""
        keys = list(keys)
        if not keys:
            return {}
        if not self.available:
            self.misses += len(keys)
            return {}
        try:
            await self._flush_pending_invalidations()
            values = await self._redis.mget([self._key(key) for key in keys])
        except (RedisError, OSError) as error:
            self._mark_down(error)
            self.misses += len(keys)
            return {}
        found = {
            key: value for key, value in zip(keys, values, strict=True) if isinstance(value, bytes)
        }
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    async def add_many(self, items: Mapping[str, bytes]) -> None:
        """Caches values that are not cached yet (a reader's fill)."""
        await self._write(items, only_if_absent=True)

    async def put(self, key: str, value: bytes) -> None:
        """Caches `value`, replacing any older one (a writer's refresh after commit)."""
        if not await self._write({key: value}, only_if_absent=False):
            self._pending_invalidations.add(self._key(key))

    async def invalidate(self, *keys: str) -> None:
        """Drops cached values; remembered and retried if Redis cannot be reached."""
        full_keys = [self._key(key) for key in keys]
        if self.available:
            try:
                await self._redis.delete(*full_keys)
                return
            except (RedisError, OSError) as error:
                self._mark_down(error)
        self._pending_invalidations.update(full_keys)

    async def _write(self, items: Mapping[str, bytes], *, only_if_absent: bool) -> bool:
        if not items or not self.available:
            return False
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, value in items.items():
                    pipe.set(self._key(key), value, ex=self.ttl_seconds, nx=only_if_absent)
                await pipe.execute()
            return True
        except (RedisError, OSError) as error:
            self._mark_down(error)
            return False

    async def ping(self) -> None:
        """Raises unless Redis answers now (health checks ask Redis itself)."""
        await self._redis.ping()
        self._down_until = 0.0

    async def close(self) -> None:
        await self._redis.aclose()
