"""kindred.ratelimit against the session's real Redis: limits, windows, replicas, races."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from kindred.devstack.process import free_port
from kindred.errors import RateLimited
from kindred.ratelimit import RateLimit, RateLimiter

LimiterFactory = Callable[..., RateLimiter]


@pytest.fixture
def namespace() -> str:
    return f"ratelimit-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def make_limiter(infra: Any, namespace: str) -> AsyncIterator[LimiterFactory]:
    """Limiters on the session's Redis (each one as a separate replica would have it)."""
    made: list[RateLimiter] = []

    def make(url: str | None = None, **options: Any) -> RateLimiter:
        options.setdefault("namespace", namespace)
        limiter = RateLimiter(url or infra.redis_url, **options)
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        await limiter.close()


@pytest.fixture
async def raw(infra: Any) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(infra.redis_url)
    yield client
    await client.aclose()


async def refusal(limiter: RateLimiter, rule: RateLimit, key: str) -> RateLimited:
    with pytest.raises(RateLimited) as refused:
        await limiter.hit(rule, key)
    return refused.value


async def test_the_hit_over_the_limit_is_refused_with_retry_after(
    make_limiter: LimiterFactory,
) -> None:
    limiter = make_limiter()
    rule = RateLimit("attempts", 3, 60, message="Slow down; try again in {wait}.")
    for _ in range(3):
        await limiter.hit(rule, "alice")

    refused = await refusal(limiter, rule, "alice")
    assert refused.extensions["code"] == "RATE_LIMITED"
    assert isinstance(refused.extensions["retryAfter"], int)
    assert 55 <= refused.retry_after <= 60
    assert refused.message == f"Slow down; try again in {refused.retry_after} s."
    # Other keys and other rules have their own counts.
    await limiter.hit(rule, "bob")
    await limiter.hit(RateLimit("other", 1, 60), "alice")


async def test_the_window_slides_and_refused_hits_do_not_count(
    make_limiter: LimiterFactory,
) -> None:
    limiter = make_limiter()
    rule = RateLimit("short", 2, 0.6)
    await limiter.hit(rule, "k")
    await limiter.hit(rule, "k")
    for _ in range(5):  # hammering while limited does not extend the wait
        assert (await refusal(limiter, rule, "k")).retry_after == 1

    await asyncio.sleep(0.7)
    await limiter.hit(rule, "k")
    await limiter.hit(rule, "k")
    await refusal(limiter, rule, "k")


async def test_the_oldest_hit_leaves_first(make_limiter: LimiterFactory) -> None:
    limiter = make_limiter()
    rule = RateLimit("sliding", 2, 1.0)
    await limiter.hit(rule, "k")
    await asyncio.sleep(0.5)
    await limiter.hit(rule, "k")
    await refusal(limiter, rule, "k")
    await asyncio.sleep(0.6)  # the first hit is out of the window, the second is not
    await limiter.hit(rule, "k")
    await refusal(limiter, rule, "k")


async def test_two_replicas_share_the_counts(make_limiter: LimiterFactory) -> None:
    first, second = make_limiter(), make_limiter()
    rule = RateLimit("shared", 3, 60)
    await first.hit(rule, "k")
    await second.hit(rule, "k")
    await first.hit(rule, "k")
    await refusal(second, rule, "k")
    await refusal(first, rule, "k")
    # Another subgraph (namespace) counts apart.
    await make_limiter(namespace=f"other-{uuid.uuid4().hex[:8]}").hit(rule, "k")


async def test_concurrent_hits_on_two_replicas_let_exactly_the_limit_through(
    make_limiter: LimiterFactory,
) -> None:
    replicas = [make_limiter(), make_limiter()]
    rule = RateLimit("race", 10, 60)

    async def attempt(index: int) -> bool:
        try:
            await replicas[index % 2].hit(rule, "k")
        except RateLimited:
            return False
        return True

    results = await asyncio.gather(*(attempt(index) for index in range(60)))
    assert sum(results) == 10


async def test_check_counts_nothing_and_undo_and_reset_take_hits_back(
    make_limiter: LimiterFactory,
) -> None:
    limiter = make_limiter()
    rule = RateLimit("failures", 2, 60)
    for _ in range(5):
        await limiter.check(rule, "k")

    first = await limiter.hit(rule, "k")
    await limiter.hit(rule, "k")
    with pytest.raises(RateLimited):
        await limiter.check(rule, "k")

    await limiter.undo(first)  # say, that attempt succeeded
    await limiter.check(rule, "k")
    await limiter.hit(rule, "k")
    await refusal(limiter, rule, "k")

    await limiter.reset(rule, "k")
    await limiter.hit(rule, "k")
    await limiter.hit(rule, "k")


async def test_a_rule_with_limit_zero_is_off(make_limiter: LimiterFactory) -> None:
    limiter = make_limiter()
    rule = RateLimit("off", 0, 60)
    for _ in range(20):
        assert await limiter.hit(rule, "k") is None


async def test_keys_are_namespaced_hashed_and_expire(
    make_limiter: LimiterFactory, raw: aioredis.Redis, namespace: str
) -> None:
    limiter = make_limiter()
    rule = RateLimit("ttl", 5, 30)
    await limiter.hit(rule, "someone@example.com")

    keys = [key.decode() async for key in raw.scan_iter(match=f"{namespace}:*")]
    assert len(keys) == 1
    assert keys[0].startswith(f"{namespace}:ratelimit:ttl:")
    assert "someone" not in keys[0]
    assert 0 < await raw.pttl(keys[0]) <= 30_000

    await limiter.reset(rule, "someone@example.com")
    assert not await raw.exists(keys[0])


async def test_without_redis_each_replica_limits_in_memory_and_quickly(
    make_limiter: LimiterFactory, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = make_limiter(f"redis://127.0.0.1:{free_port()}/0", retry_after=60)
    rule = RateLimit("outage", 3, 60)
    started = time.monotonic()
    for _ in range(3):
        await limiter.hit(rule, "k")
    refused = await refusal(limiter, rule, "k")
    assert 55 <= refused.retry_after <= 60
    await limiter.hit(rule, "another key")
    assert time.monotonic() - started < 3.0
    assert not limiter.available
    assert any("Redis unreachable" in record.getMessage() for record in caplog.records)

    # Undo and reset work on what the fallback counted.
    attempt = await limiter.hit(rule, "undo")
    await limiter.hit(rule, "undo")
    await limiter.hit(rule, "undo")
    await limiter.undo(attempt)
    await limiter.hit(rule, "undo")
    await limiter.reset(rule, "undo")
    await limiter.hit(rule, "undo")
