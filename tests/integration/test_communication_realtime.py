"""The platform's live delivery against the session's real Redis: fan-out between processes'
hubs, presence that expires when its holder dies, and a Redis outage costing no sender."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from redis.exceptions import RedisError

from kindred.devstack.process import free_port
from kindred.realtime import Realtime
from tests.support import eventually


@pytest.fixture
async def hubs(infra: Any) -> Any:
    """Two hubs on one Redis, as two replicas of one subgraph have."""
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    one = Realtime(infra.redis_url, namespace=namespace, presence_ttl_seconds=1.5)
    two = Realtime(infra.redis_url, namespace=namespace, presence_ttl_seconds=1.5)
    yield one, two
    await one.close()
    await two.close()


async def test_a_message_published_on_one_hub_reaches_every_subscriber_on_the_other(
    hubs: tuple[Realtime, Realtime],
) -> None:
    one, two = hubs
    first = await two.subscribe("room")
    second = await two.subscribe("room")
    elsewhere = await two.subscribe("other-room")
    try:
        assert await one.publish("room", {"n": 1})
        got = await asyncio.wait_for(asyncio.gather(anext(first), anext(second)), 2)
        assert got == [{"n": 1}, {"n": 1}]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(elsewhere), 0.2)
    finally:
        for feed in (first, second, elsewhere):
            await feed.close()
    # The last local subscriber gone, the process leaves the Redis channel.
    assert two._listeners == {}


async def test_presence_is_per_holder_and_expires_when_nobody_refreshes_it(
    hubs: tuple[Realtime, Realtime], infra: Any
) -> None:
    one, two = hubs
    async with one.present("room", "ann"), two.present("room", "ann"):
        assert await two.members_present("room") == {"ann"}
    async with one.present("room", "ann"):
        async with two.present("room", "ann"):
            pass
        assert await two.members_present("room") == {"ann"}  # the other device stays
    assert await two.members_present("room") == set()

    # A process that dies mid-subscription leaves no refresher: its mark expires.
    dying = Realtime(infra.redis_url, namespace=one._namespace, presence_ttl_seconds=1.0)
    holder = dying.present("room", "bob")
    await holder.__aenter__()
    assert await one.members_present("room") == {"bob"}
    refresher = next(t for t in asyncio.all_tasks() if t.get_name() == "realtime-presence")
    refresher.cancel()
    await eventually(
        lambda: one.members_present("room"), lambda present: present == set(), within=5
    )
    await dying.close()


async def test_without_redis_publishing_and_presence_answer_instead_of_raising() -> None:
    down = Realtime(f"redis://127.0.0.1:{free_port()}/0", namespace="down")
    try:
        assert await down.publish("room", {"n": 1}) is False
        assert await down.members_present("room") is None
        async with down.present("room", "ann"):  # logged, not raised
            pass
        with pytest.raises(RedisError):
            await down.subscribe("room")
    finally:
        await down.close()
