"""kindred.cache.Cache against a real Redis: TTLs, fill-versus-write, and Redis outages."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from kindred.cache import Cache

TTL = 60
RETRY_AFTER = 0.5
QUICK = 1.0  # seconds: "quick" for a call while Redis is unreachable (a behaviour, not a benchmark)


@pytest.fixture
async def namespace() -> str:
    return f"platform-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def cache(infra, namespace: str) -> AsyncIterator[Cache]:
    cache = Cache(infra.redis_url, namespace=namespace, ttl_seconds=TTL, retry_after=RETRY_AFTER)
    yield cache
    await cache.close()


@pytest.fixture
async def raw(infra) -> AsyncIterator[aioredis.Redis]:
    """A plain client, to look at what the cache really stored."""
    client = aioredis.from_url(infra.redis_url)
    yield client
    await client.aclose()


async def timed(call) -> tuple[object, float]:
    started = time.monotonic()
    result = await call
    return result, time.monotonic() - started


async def test_values_are_cached_under_the_namespace_with_the_ttl_and_can_be_invalidated(
    cache: Cache, raw: aioredis.Redis, namespace: str
):
    assert await cache.get_many(["a", "b"]) == {}

    await cache.add_many({"a": b"1", "b": b"2"})
    await cache.put("c", b"3")

    assert await cache.get_many(["a", "b", "c", "missing"]) == {"a": b"1", "b": b"2", "c": b"3"}
    assert await raw.get(f"{namespace}:a") == b"1"
    assert await raw.get(f"{namespace}:c") == b"3"
    for key in ("a", "b", "c"):
        assert 0 < await raw.ttl(f"{namespace}:{key}") <= TTL

    await cache.invalidate("a", "c")

    assert await cache.get_many(["a", "b", "c"]) == {"b": b"2"}
    assert await raw.exists(f"{namespace}:a", f"{namespace}:c") == 0
    assert await raw.get(f"{namespace}:b") == b"2"


async def test_a_reader_fill_never_replaces_a_writer_put(
    cache: Cache, raw: aioredis.Redis, namespace: str
):
    await cache.put("profile", b"fresh")
    await cache.add_many({"profile": b"stale", "other": b"filled"})

    assert await cache.get_many(["profile", "other"]) == {"profile": b"fresh", "other": b"filled"}
    assert await raw.get(f"{namespace}:profile") == b"fresh"

    # The other way round a writer wins too, and its put sets a full TTL again.
    await raw.expire(f"{namespace}:other", 5)
    await cache.put("other", b"written")
    assert await raw.get(f"{namespace}:other") == b"written"
    assert 5 < await raw.ttl(f"{namespace}:other") <= TTL


async def test_with_redis_stopped_every_call_is_a_quick_miss_and_a_missed_invalidation_is_applied_later(  # noqa: E501
    infra, cache: Cache, raw: aioredis.Redis, namespace: str
):
    await cache.put("profile", b"v1")
    await cache.put("kept", b"k1")
    assert await cache.get_many(["profile"]) == {"profile": b"v1"}

    infra.stop_redis()
    try:
        calls = {
            "get_many (first failure)": cache.get_many(["profile", "kept"]),
            "add_many": cache.add_many({"profile": b"v0"}),
            "put": cache.put("other", b"o1"),
            "invalidate": cache.invalidate("profile"),
            "get_many": cache.get_many(["profile"]),
        }
        durations = {}
        for name, call in calls.items():
            result, durations[name] = await timed(call)
            if name.startswith("get_many"):
                assert result == {}, name

        # Once retry_after has passed the cache tries Redis again: still quick, still a miss.
        await asyncio.sleep(RETRY_AFTER + 0.1)
        result, durations["get_many (retrying Redis)"] = await timed(cache.get_many(["kept"]))
        assert result == {}
        _, durations["invalidate (retrying Redis)"] = await timed(cache.invalidate("kept"))

        slow = {name: round(seconds, 2) for name, seconds in durations.items() if seconds > QUICK}
        assert not slow, f"calls while Redis is down took too long: {slow}"
    finally:
        infra.start_redis()

    # This Redis restarts empty. Put the stale values back as a Redis that kept its data
    # (a network partition rather than a restart) would still hold them.
    await raw.set(f"{namespace}:profile", b"v1")
    await raw.set(f"{namespace}:kept", b"k1")
    await raw.set(f"{namespace}:untouched", b"u1")

    await asyncio.sleep(RETRY_AFTER + 0.1)
    assert await cache.get_many(["profile", "kept", "untouched"]) == {"untouched": b"u1"}
    assert await raw.exists(f"{namespace}:profile", f"{namespace}:kept") == 0

    # And it caches again.
    await cache.put("profile", b"v2")
    assert await cache.get_many(["profile"]) == {"profile": b"v2"}
    assert 0 < await raw.ttl(f"{namespace}:profile") <= TTL


async def test_an_unreachable_redis_that_keeps_its_data_gets_the_missed_invalidation(
    infra, cache: Cache, raw: aioredis.Redis, namespace: str
):
    """CLIENT PAUSE makes Redis unresponsive without losing data, like a network partition."""
    await cache.put("profile", b"old")
    assert await cache.get_many(["profile"]) == {"profile": b"old"}

    await raw.execute_command("CLIENT", "PAUSE", "1500", "ALL")
    paused_at = time.monotonic()
    result, took = await timed(cache.get_many(["profile"]))
    assert result == {}
    assert took < QUICK, f"get_many took {took:.2f} s while Redis was paused"
    # Marked down: this invalidation is only remembered, nothing is sent.
    await cache.invalidate("profile")

    await asyncio.sleep(max(0.0, 1.6 - (time.monotonic() - paused_at)))
    assert await raw.get(f"{namespace}:profile") == b"old"  # still stale in Redis

    await asyncio.sleep(RETRY_AFTER)
    assert await cache.get_many(["profile"]) == {}
    assert await raw.exists(f"{namespace}:profile") == 0
