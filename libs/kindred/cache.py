"""Redis cache-aside with TTLs, shared by every replica; the service keeps answering when
Redis is down."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping, Sequence

import redis.asyncio as redis
from redis.exceptions import RedisError

from kindred.redis_reads import Address, RedisReads

log = logging.getLogger(__name__)

# What an invalidated key holds for a while: a miss to readers, and a value their fills
# (set-if-absent) cannot replace with what they read before the change.
TOMBSTONE = b"\x00kindred:invalidated"
TOMBSTONE_SECONDS = 60
# How long a read, a write or a connect may take before Redis counts as down.
SOCKET_TIMEOUT_SECONDS = 0.25
# A writer's value replaces the cached one only if it is newer than the newest version
# written or invalidated under that key (KEYS: value, version; ARGV: value, version, ttl).
_PUT_NEWER = """
local newest = tonumber(redis.call('GET', KEYS[2]))
if newest and newest >= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return 1
"""


class Cache:
    """A namespaced view of Redis that never raises.

    Every replica reads and writes the same Redis keys; nothing is kept in process but
    writes that Redis did not take. Reads go over a pipelined connection of their own
    (kindred.redis_reads), writes through redis-py. Readers fill with `add_many`
    (set-if-absent) and writers overwrite with `put` after their commit, so a slow reader
    cannot put back a value a writer replaced; `invalidate` leaves a tombstone, so a reader
    that loaded the old value before the change cannot put it back either. With a version,
    `put` and `invalidate` never replace a newer write (two writers finishing out of order).
    A write is always sent to Redis, even while reads skip it after an error: another
    replica may be reading Redis meanwhile. One Redis did not take is retried in the
    background until it does, so it reaches every replica without waiting for this one's
    next call. While Redis is unreachable every read is a miss.
    """

    def __init__(
        self, url: str, *, namespace: str, ttl_seconds: int, retry_after: float = 2.0
    ) -> None:
        self._redis = redis.Redis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT_SECONDS,
            socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
            health_check_interval=0,
        )
        # Reads, the hot path, on a connection of their own (redis-py for other URLs).
        address = Address.from_url(url)
        self._reads = (
            RedisReads(address, timeout=SOCKET_TIMEOUT_SECONDS) if address is not None else None
        )
        self._namespace = namespace
        self.ttl_seconds = ttl_seconds
        self._retry_after = retry_after
        self._down_until = 0.0
        self._pending_invalidations: set[str] = set()
        self._retrying: asyncio.Task[None] | None = None
        self._put_newer = self._redis.register_script(_PUT_NEWER)
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
            await self._tombstone(keys)
            self._pending_invalidations.difference_update(keys)

    @property
    def _tombstone_seconds(self) -> int:
        return min(self.ttl_seconds, TOMBSTONE_SECONDS)

    def _remember(self, full_keys: Iterable[str]) -> None:
        """Keys whose cached value a write could not replace: invalidated as soon as
        Redis answers, by a background retry."""
        self._pending_invalidations.update(full_keys)
        if self._retrying is None or self._retrying.done():
            self._retrying = asyncio.get_running_loop().create_task(self._retry_pending())

    async def _retry_pending(self) -> None:
        while self._pending_invalidations:
            await asyncio.sleep(self._retry_after)
            try:
                await self._flush_pending_invalidations()
            except (RedisError, OSError) as error:
                self._mark_down(error)
            else:
                self._down_until = 0.0
                log.info("cache: Redis answers again; missed invalidations applied")

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
            full_keys = [self._key(key) for key in keys]
            values: Sequence[bytes | str | None] = await (
                self._reads.mget(full_keys) if self._reads else self._redis.mget(full_keys)
            )
        except (RedisError, OSError) as error:
            self._mark_down(error)
            self.misses += len(keys)
            return {}
        found = {
            key: value
            for key, value in zip(keys, values, strict=True)
            if isinstance(value, bytes) and value != TOMBSTONE
        }
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    async def add_many(self, items: Mapping[str, bytes]) -> None:
        """Caches values that are not cached yet (a reader's fill)."""
        await self._write(items, only_if_absent=True)

    async def put(self, key: str, value: bytes, *, version: int | None = None) -> None:
        """Caches `value`, replacing the cached one (a writer's refresh after commit);
        with its `version`, unless that version or a newer one was written already."""
        try:
            if version is None:
                await self._redis.set(self._key(key), value, ex=self.ttl_seconds)
            else:
                await self._put_newer(
                    keys=[self._key(key), self._version_key(key)],
                    args=[value, version, self.ttl_seconds],
                )
        except (RedisError, OSError) as error:
            self._mark_down(error)
            self._remember([self._key(key)])

    async def invalidate(
        self, *keys: str, version: int | None = None, hold_seconds: int | None = None
    ) -> None:
        """Drops cached values (a tombstone for a while, so no reader puts back what it
        read before: `hold_seconds`, a minute unless shorter, which readers that fill
        within milliseconds of their read can afford); with the `version` that made them
        stale, a slower writer's older value cannot come back either. Retried in the
        background if Redis cannot be reached."""
        try:
            if version is None:
                await self._tombstone([self._key(key) for key in keys], hold_seconds)
            else:
                for key in keys:
                    await self._put_newer(
                        keys=[self._key(key), self._version_key(key)],
                        args=[TOMBSTONE, version, self._tombstone_seconds],
                    )
        except (RedisError, OSError) as error:
            self._mark_down(error)
            self._remember(self._key(key) for key in keys)

    async def invalidate_matching(self, pattern: str, *, hold_seconds: int | None = None) -> None:
        """Drops every cached value whose key matches the glob `pattern` (as `invalidate`
        does): when which keys went stale is not known, only their kind."""
        full_pattern = self._key(pattern)
        try:
            batch: list[str] = []
            async for key in self._redis.scan_iter(match=full_pattern, count=1000):
                name = key.decode() if isinstance(key, bytes) else str(key)
                if not name.endswith("#version"):
                    batch.append(name)
                if len(batch) >= 1000:
                    await self._tombstone(batch, hold_seconds)
                    batch = []
            await self._tombstone(batch, hold_seconds)
        except (RedisError, OSError) as error:
            self._mark_down(error)
            raise

    async def _tombstone(self, full_keys: list[str], hold_seconds: int | None = None) -> None:
        """Tombstones for these keys (for `hold_seconds`, at most the default), in one
        round trip."""
        if not full_keys:
            return
        seconds = min(hold_seconds or self._tombstone_seconds, self._tombstone_seconds)
        async with self._redis.pipeline(transaction=False) as pipe:
            for full_key in full_keys:
                pipe.set(full_key, TOMBSTONE, ex=seconds)
            await pipe.execute()

    def _version_key(self, key: str) -> str:
        return f"{self._namespace}:{key}#version"

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
        if self._retrying is not None:
            self._retrying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retrying
        if self._reads is not None:
            await self._reads.close()
        await self._redis.aclose()
