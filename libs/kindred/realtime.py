"""Live delivery across replicas: Redis pub/sub fan-out and presence with a TTL.

A process keeps one Redis connection for all its subscribers: channels are subscribed
on Redis while at least one local subscriber listens, and every message read is handed
to each local subscriber's queue. Publishing never raises: what is published is already
stored, so a Redis outage only costs the live copy (and is logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

PRESENCE_TTL_SECONDS = 30.0
# A subscriber that falls this far behind loses the oldest messages, not the process memory.
QUEUE_LIMIT = 1000


class Realtime:
    """Publish after commit, subscribe as an async iterator, and who is present where."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str,
        presence_ttl_seconds: float = PRESENCE_TTL_SECONDS,
        retry_after: float = 1.0,
    ) -> None:
        self._redis = redis.Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=0
        )
        self._namespace = namespace
        self.presence_ttl_seconds = presence_ttl_seconds
        self._retry_after = retry_after
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._listeners: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
        self._confirmed: dict[str, asyncio.Event] = {}
        self._lock = asyncio.Lock()

    def _key(self, name: str) -> str:
        return f"{self._namespace}:{name}"

    # -- fan-out ----------------------------------------------------------------------

    async def publish(self, channel: str, message: dict[str, Any]) -> bool:
        """Sends `message` to `channel`'s subscribers in every process; False if Redis failed."""
        try:
            await self._redis.publish(self._key(channel), json.dumps(message, default=str))
            return True
        except (RedisError, OSError) as error:
            log.warning("realtime: publish to %s failed (%r); delivery is skipped", channel, error)
            return False

    async def subscribe(self, channel: str) -> Feed:
        """The messages published on `channel` from now on, until the feed is closed.

        Returns once Redis confirmed the subscription, so a message published afterwards
        is delivered; raises `RedisError` or `OSError` if Redis cannot be reached.
        """
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)
        await self._add_listener(channel, queue)
        return Feed(self, channel, queue)

    async def _add_listener(self, channel: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        async with self._lock:
            listeners = self._listeners.setdefault(channel, set())
            listeners.add(queue)
            if len(listeners) == 1:
                self._confirmed[channel] = asyncio.Event()
                try:
                    pubsub = await self._connected()
                    await pubsub.subscribe(self._key(channel))
                except (RedisError, OSError):
                    self._forget(channel, queue)
                    raise
            confirmed = self._confirmed[channel]
        try:
            await asyncio.wait_for(confirmed.wait(), timeout=2.0)
        except BaseException:
            await self._remove_listener(channel, queue)
            raise

    def _forget(self, channel: str, queue: asyncio.Queue[dict[str, Any]]) -> bool:
        listeners = self._listeners.get(channel, set())
        listeners.discard(queue)
        if listeners:
            return False
        self._listeners.pop(channel, None)
        self._confirmed.pop(channel, None)
        return True

    async def _remove_listener(self, channel: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        async with self._lock:
            if self._forget(channel, queue) and self._pubsub is not None:
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.unsubscribe(self._key(channel))

    async def _connected(self) -> PubSub:
        if self._pubsub is None:
            pubsub = self._redis.pubsub()
            await pubsub.connect()
            self._pubsub = pubsub
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read(), name="realtime-reader")
        return self._pubsub

    async def _read(self) -> None:
        """Hands every message to the local subscribers of its channel; reconnects on failure."""
        prefix = f"{self._namespace}:"
        while True:
            try:
                pubsub = self._pubsub
                if pubsub is None:
                    async with self._lock:
                        pubsub = await self._resubscribe()
                message = await pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, RuntimeError) as error:
                log.warning("realtime: Redis connection lost (%r); reconnecting", error)
                await self._drop_connection()
                await asyncio.sleep(self._retry_after)
                continue
            if message is None:
                continue
            channel = _text(message["channel"]).removeprefix(prefix)
            if message["type"] == "subscribe":
                if channel in self._confirmed:
                    self._confirmed[channel].set()
            elif message["type"] == "message":
                self._deliver(channel, json.loads(message["data"]))

    async def _resubscribe(self) -> PubSub:
        pubsub = self._redis.pubsub()
        await pubsub.connect()
        if self._listeners:
            await pubsub.subscribe(*(self._key(channel) for channel in self._listeners))
        self._pubsub = pubsub
        return pubsub

    async def _drop_connection(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    def _deliver(self, channel: str, payload: dict[str, Any]) -> None:
        for queue in self._listeners.get(channel, ()):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(payload)

    # -- presence ---------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def present(self, group: str, member: str) -> AsyncIterator[None]:
        """Marks `member` present in `group` while the block runs (refreshed; expires if we die).

        Several holders for one member (two devices) are counted apart: one leaving
        keeps the member present while another stays. Redis errors are logged, not raised.
        """
        holder = f"{member}:{uuid.uuid4().hex}"
        key = self._key(f"presence:{group}")
        await self._mark(key, holder)
        refresher = asyncio.create_task(self._refresh(key, holder), name="realtime-presence")
        try:
            yield
        finally:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
            try:
                await self._redis.zrem(key, holder)
            except (RedisError, OSError) as error:
                log.warning("realtime: could not clear presence in %s (%r)", group, error)

    async def _mark(self, key: str, holder: str) -> None:
        expires = time.time() + self.presence_ttl_seconds
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.zadd(key, {holder: expires})
                pipe.expire(key, int(self.presence_ttl_seconds) + 1)
                await pipe.execute()
        except (RedisError, OSError) as error:
            log.warning("realtime: could not record presence in %s (%r)", key, error)

    async def _refresh(self, key: str, holder: str) -> None:
        while True:
            await asyncio.sleep(self.presence_ttl_seconds / 3)
            await self._mark(key, holder)

    async def members_present(self, group: str) -> set[str] | None:
        """The members present in `group` now; None when Redis cannot tell."""
        key = self._key(f"presence:{group}")
        try:
            holders = await self._redis.zrangebyscore(key, time.time(), "+inf")
        except (RedisError, OSError) as error:
            log.warning("realtime: presence of %s unknown (%r)", group, error)
            return None
        return {_text(holder).rsplit(":", 1)[0] for holder in holders if isinstance(holder, bytes)}

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        await self._drop_connection()
        await self._redis.aclose()


class Feed:
    """One subscriber's messages of one channel: iterate it, and close it when done."""

    def __init__(
        self, realtime: Realtime, channel: str, queue: asyncio.Queue[dict[str, Any]]
    ) -> None:
        self._realtime = realtime
        self._channel = channel
        self._queue = queue
        self._closed = False

    def __aiter__(self) -> Feed:
        return self

    async def __anext__(self) -> dict[str, Any]:
        return await self._queue.get()

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._realtime._remove_listener(self._channel, self._queue)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
