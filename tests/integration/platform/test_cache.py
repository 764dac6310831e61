"""kindred.cache.Cache against a real Redis: TTLs, fill-versus-write, and Redis outages."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from kindred.cache import TOMBSTONE, TOMBSTONE_SECONDS, Cache
from tests.support import eventually

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
async def replica(infra, namespace: str) -> AsyncIterator[Cache]:
    """The same cache as another replica of the subgraph sees it."""
    other = Cache(infra.redis_url, namespace=namespace, ttl_seconds=TTL, retry_after=RETRY_AFTER)
    yield other
    await other.close()


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
    assert await raw.get(f"{namespace}:a") == TOMBSTONE
    assert 0 < await raw.ttl(f"{namespace}:c") <= TOMBSTONE_SECONDS
    assert await raw.get(f"{namespace}:b") == b"2"
    # A reader that loaded "a" before the invalidation cannot put it back.
    await cache.add_many({"a": b"1"})
    assert await cache.get_many(["a"]) == {}


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

    # Once Redis answers, the writes it missed are applied in the background (no call
    # on this cache needed): the keys they touched are invalidated.
    missed = [f"{namespace}:{key}" for key in ("profile", "kept", "other")]
    await eventually(
        lambda: raw.mget(missed), lambda values: values == [TOMBSTONE] * 3, what="retried"
    )
    assert await cache.get_many(["profile", "kept", "other"]) == {}

    # And it caches again.
    await cache.put("profile", b"v2")
    assert await cache.get_many(["profile"]) == {"profile": b"v2"}
    assert 0 < await raw.ttl(f"{namespace}:profile") <= TTL


async def test_a_write_an_unreachable_redis_missed_reaches_the_other_replicas_once_it_answers(
    cache: Cache, replica: Cache, raw: aioredis.Redis, namespace: str
):
    """CLIENT PAUSE makes Redis unresponsive without losing data, like a network partition."""
    await cache.put("profile", b"old", version=1)
    assert await replica.get_many(["profile"]) == {"profile": b"old"}

    await raw.execute_command("CLIENT", "PAUSE", "1500", "WRITE")
    _, took = await timed(cache.put("profile", b"new", version=2))
    assert took < QUICK, f"put took {took:.2f} s while Redis was paused"

    # The other replica never gets the old value once Redis answers, though this one
    # makes no further call.
    await asyncio.sleep(1.6)
    await eventually(
        lambda: replica.get_many(["profile"]), lambda found: found == {}, within=RETRY_AFTER * 4
    )
    assert await raw.get(f"{namespace}:profile") == TOMBSTONE


async def test_a_replica_that_just_saw_redis_fail_still_writes_through_to_the_others(
    cache: Cache, replica: Cache, raw: aioredis.Redis
):
    await cache.put("profile", b"v1", version=1)
    await raw.execute_command("CLIENT", "PAUSE", "300", "ALL")
    assert await cache.get_many(["profile"]) == {}  # timed out: reads skip Redis a while
    assert not cache.available
    await asyncio.sleep(0.35)  # Redis answers again, within this cache's retry_after

    await cache.put("profile", b"v2", version=2)

    assert await replica.get_many(["profile"]) == {"profile": b"v2"}


async def test_writers_finishing_out_of_order_leave_the_newest_version_cached(
    cache: Cache, replica: Cache
):
    await cache.put("profile", b"v3", version=3)
    await replica.put("profile", b"v2", version=2)  # a slower writer of an older version
    assert await replica.get_many(["profile"]) == {"profile": b"v3"}

    await replica.invalidate("profile", version=4)  # say, deleted at version 4
    await cache.put("profile", b"v3 again", version=3)  # late
    await cache.add_many({"profile": b"read before the deletion"})
    assert await cache.get_many(["profile"]) == {}
    assert await replica.get_many(["profile"]) == {}

    await cache.put("profile", b"v5", version=5)
    assert await replica.get_many(["profile"]) == {"profile": b"v5"}


async def test_a_tombstone_can_be_held_shorter_and_a_kind_of_key_forgotten_at_once(
    cache: Cache, raw: aioredis.Redis, namespace: str
):
    await cache.add_many({"entry:1": b"1", "entry:2": b"2", "other:1": b"3"})
    await cache.invalidate("entry:1", hold_seconds=2)
    assert 0 < await raw.ttl(f"{namespace}:entry:1") <= 2
    await cache.add_many({"entry:1": b"stale"})
    assert await cache.get_many(["entry:1"]) == {}
    # Once the short tombstone is gone, a reader's fill is taken again.
    await eventually(lambda: raw.exists(f"{namespace}:entry:1"), lambda n: n == 0, within=5)
    await cache.add_many({"entry:1": b"new"})
    assert await cache.get_many(["entry:1"]) == {"entry:1": b"new"}

    await cache.invalidate_matching("entry:*")
    assert await cache.get_many(["entry:1", "entry:2", "other:1"]) == {"other:1": b"3"}
    assert await raw.get(f"{namespace}:entry:2") == TOMBSTONE
    assert 2 < await raw.ttl(f"{namespace}:entry:2") <= TOMBSTONE_SECONDS
