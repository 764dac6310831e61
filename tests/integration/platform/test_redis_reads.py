"""kindred.redis_reads against a real Redis: replies matched in order, sign-in and a
database number, a connection Redis drops, and a server that never answers."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from kindred.redis_reads import Address, RedisReads


@pytest.fixture
async def raw(infra) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(infra.redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def reads(infra) -> AsyncIterator[RedisReads]:
    address = Address.from_url(infra.redis_url)
    assert address is not None
    reads = RedisReads(address, timeout=2.0)
    yield reads
    await reads.close()


async def test_concurrent_reads_share_one_connection_and_each_gets_its_own_values(
    reads: RedisReads, raw: aioredis.Redis
) -> None:
    prefix = f"reads-test-{uuid.uuid4().hex[:8]}"
    values = {f"{prefix}:{n}": f"value {n}\r\n".encode() * (n % 7) for n in range(300)}
    await raw.mset(values)
    keys = list(values)

    answers = await asyncio.gather(
        *(reads.mget([keys[n], f"{prefix}:absent", keys[-n - 1]]) for n in range(len(keys)))
    )

    for n, answer in enumerate(answers):
        assert answer == [values[keys[n]], None, values[keys[-n - 1]]]
    assert await reads.mget([]) == []  # not sent: an MGET of nothing is Redis' error
    await raw.delete(*keys)


async def test_a_dropped_connection_is_replaced_by_the_next_read(
    reads: RedisReads, raw: aioredis.Redis
) -> None:
    key = f"reads-test-{uuid.uuid4().hex[:8]}"
    await raw.set(key, b"kept")
    assert await reads.mget([key]) == [b"kept"]
    connection = reads._connection
    assert connection is not None and connection.transport is not None
    host, port = connection.transport.get_extra_info("sockname")[:2]

    assert await raw.client_kill_filter(_type=None, addr=f"{host}:{port}") == 1

    answers: list[list[bytes | None] | None] = []
    for _ in range(2):  # the first may still meet the dead connection
        try:
            answers.append(await reads.mget([key]))
        except OSError:
            answers.append(None)
    assert answers[-1] == [b"kept"]
    await raw.delete(key)


async def test_it_signs_in_and_reads_the_database_its_url_names(infra, raw: aioredis.Redis) -> None:
    user, password = f"reader-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    await raw.acl_setuser(
        user, enabled=True, passwords=[f"+{password}"], keys=["*"], commands=["+@all"]
    )
    base = Address.from_url(infra.redis_url)
    assert base is not None
    in_database_2 = aioredis.Redis(host=base.host, port=base.port, db=2)
    key = f"reads-test-{uuid.uuid4().hex[:8]}"
    await in_database_2.set(key, b"in two")
    signed_in = RedisReads(Address(base.host, base.port, False, user, password, 2), timeout=2.0)
    wrong = RedisReads(Address(base.host, base.port, False, user, "wrong", 0), timeout=2.0)
    try:
        assert await signed_in.mget([key]) == [b"in two"]
        with pytest.raises(ResponseError, match=r"WRONGPASS|invalid"):
            await wrong.mget([key])
    finally:
        await signed_in.close()
        await wrong.close()
        await in_database_2.delete(key)
        await in_database_2.aclose()
        await raw.acl_deluser(user)


async def test_a_server_that_never_answers_is_a_timeout_each_time() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reads = RedisReads(Address("127.0.0.1", port, False, None, None, 0), timeout=0.2)
    try:
        for _ in range(2):
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await reads.mget(["k"])
            assert time.monotonic() - started < 1.0
        assert len(accepted) == 2  # the stuck connection was dropped, a new one opened
    finally:
        await reads.close()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
