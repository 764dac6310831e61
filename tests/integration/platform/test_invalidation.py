"""kindred.invalidation against a real PostgreSQL and Redis: a trigger NOTIFYs the key of
every changed row at commit, and the listener forgets it in the cache; a rolled-back
change forgets nothing, and a listener that (re)connects forgets every key of its kind."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest

from kindred.cache import Cache
from kindred.db import Database
from kindred.invalidation import drop_notify_changes_sql, forget_on_notify, notify_changes_sql
from tests.support import eventually

CHANNEL = "test_rows"


@pytest.fixture(scope="module")
async def table(scratch_db_url: str) -> AsyncIterator[str]:
    async with await psycopg.AsyncConnection.connect(scratch_db_url, autocommit=True) as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS rows (id uuid PRIMARY KEY, value text)")
        for statement in notify_changes_sql("rows", "id", channel=CHANNEL):
            await conn.execute(statement)
    yield "rows"
    async with await psycopg.AsyncConnection.connect(scratch_db_url, autocommit=True) as conn:
        for statement in drop_notify_changes_sql("rows"):
            await conn.execute(statement)
        await conn.execute("DROP TABLE rows")


@pytest.fixture
async def cache(infra) -> AsyncIterator[Cache]:
    cache = Cache(infra.redis_url, namespace=f"invalidation-{uuid.uuid4().hex[:8]}", ttl_seconds=60)
    yield cache
    await cache.close()


def _key(row_id: uuid.UUID | str) -> str:
    return f"row:{row_id}"


@contextlib.asynccontextmanager
async def listening(database: Database, cache: Cache) -> AsyncIterator[asyncio.Event]:
    connected = asyncio.Event()
    task = asyncio.create_task(
        forget_on_notify(
            database, cache, channel=CHANNEL, key=_key, every_key=_key("*"), connected=connected
        )
    )
    try:
        await asyncio.wait_for(connected.wait(), 10)
        yield connected
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def sql(url: str, statement: str, *params: object, commit: bool = True) -> None:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await conn.execute(statement, params)
        await (conn.commit() if commit else conn.rollback())


async def cached(cache: Cache, row_id: uuid.UUID) -> bytes | None:
    return (await cache.get_many([_key(row_id)])).get(_key(row_id))


async def forgotten(cache: Cache, row_id: uuid.UUID) -> None:
    async def gone() -> bool:
        return await cached(cache, row_id) is None

    await eventually(gone, what=f"{row_id} forgotten")


async def test_every_kind_of_write_forgets_the_row_once_committed(
    table: str, database: Database, cache: Cache, scratch_db_url: str
):
    inserted, updated, deleted, untouched = (uuid.uuid4() for _ in range(4))
    for row_id in (updated, deleted, untouched):
        await sql(scratch_db_url, f"INSERT INTO {table} VALUES (%s, 'old')", row_id)
    async with listening(database, cache):
        everything = [inserted, updated, deleted, untouched]
        await cache.add_many({_key(row_id): b"cached" for row_id in everything})

        await sql(scratch_db_url, f"INSERT INTO {table} VALUES (%s, 'new')", inserted)
        await sql(scratch_db_url, f"UPDATE {table} SET value = 'new' WHERE id = %s", updated)
        await sql(scratch_db_url, f"DELETE FROM {table} WHERE id = %s", deleted)

        for row_id in (inserted, updated, deleted):
            await forgotten(cache, row_id)
        assert await cached(cache, untouched) == b"cached"
        # A reader that loaded the old row before the change cannot put it back.
        await cache.add_many({_key(updated): b"old"})
        assert await cached(cache, updated) is None


async def test_a_rolled_back_write_forgets_nothing(
    table: str, database: Database, cache: Cache, scratch_db_url: str
):
    row_id, witness = uuid.uuid4(), uuid.uuid4()
    async with listening(database, cache):
        await cache.add_many({_key(row_id): b"cached", _key(witness): b"cached"})
        await sql(scratch_db_url, f"INSERT INTO {table} VALUES (%s, 'x')", row_id, commit=False)
        # A committed write after it: once it is forgotten, the rolled-back one had its turn.
        await sql(scratch_db_url, f"INSERT INTO {table} VALUES (%s, 'y')", witness)
        await forgotten(cache, witness)
        assert await cached(cache, row_id) == b"cached"


async def test_a_listener_forgets_every_key_of_its_kind_when_it_connects(
    database: Database, cache: Cache
):
    """Whatever changed while nobody listened is unknown: all of the kind goes."""
    ours, other_kind = uuid.uuid4(), "other:1"
    await cache.add_many({_key(ours): b"cached", other_kind: b"kept"})
    async with listening(database, cache):
        assert await cached(cache, ours) is None
        assert (await cache.get_many([other_kind])) == {other_kind: b"kept"}
