"""Cached reads forgotten by the database itself: a trigger NOTIFYs the key of every row
a transaction inserts, updates or deletes, PostgreSQL delivers it when (and only if) the
transaction commits, and each replica's listener forgets those keys in the cache.

Every writer is covered, whatever it is (a mutation, an event handler, a background job,
a repair, an SQL session by hand), with nothing to remember in its code. What a trigger
cannot do is make the writer's own next read see its write at once: a mutation whose
caller reads back right away still forgets its keys itself after its commit.

A listener that loses its connection may miss notifications: once back, it forgets every
key of its kind (`Cache.invalidate_matching`) before it trusts the cache again.

    # a migration
    for statement in notify_changes_sql("queue_entries", "user_id", channel="queuing_entries"):
        op.execute(statement)
    # a subgraph task
    await forget_on_notify(
        platform.db, platform.cache, channel="queuing_entries",
        key=lambda id: f"entry:{id}", every_key="entry:*",
    )
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg

from kindred.cache import Cache
from kindred.db import Database

log = logging.getLogger(__name__)


def notify_changes_sql(table: str, key_column: str, *, channel: str) -> list[str]:
    """The statements that make the trigger (and its function) NOTIFYing `channel` with
    `key_column` of every row of `table` a statement inserts, updates or deletes.
    PostgreSQL sends them at commit, one per distinct key and transaction."""
    function = f"notify_{table}_changes"
    return [
        f"""
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify('{channel}', OLD.{key_column}::text);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM pg_notify('{channel}', NEW.{key_column}::text);
    END IF;
    RETURN NULL;
END $$""",
        f"CREATE TRIGGER {table}_notify_changes AFTER INSERT OR UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {function}()",
    ]


def drop_notify_changes_sql(table: str) -> list[str]:
    """The statements that undo `notify_changes_sql` for `table`."""
    return [
        f"DROP TRIGGER IF EXISTS {table}_notify_changes ON {table}",
        f"DROP FUNCTION IF EXISTS notify_{table}_changes()",
    ]


async def forget_on_notify(
    database: Database,
    cache: Cache,
    *,
    channel: str,
    key: Callable[[str], str],
    every_key: str,
    hold_seconds: int | None = None,
    connected: asyncio.Event | None = None,
) -> None:
    """Until cancelled: forgets `key(payload)` in `cache` for every notification on
    `channel`. After a lost connection (or at the start, when nothing guarantees what the
    cache holds), every key matching the pattern `every_key` is forgotten first. Each
    key forgotten stays uncacheable for `hold_seconds` (`Cache.invalidate`). `connected`
    is set once it listens (tests wait for it)."""
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                database.url, autocommit=True
            ) as connection:
                await connection.execute(f"LISTEN {channel}")
                await cache.invalidate_matching(every_key, hold_seconds=hold_seconds)
                if connected is not None:
                    connected.set()
                await _forget_as_notified(connection, cache, key, hold_seconds)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if connected is not None:
                connected.clear()
            log.warning("%s: stopped listening (%r); again in 1 s", channel, error)
            await asyncio.sleep(1.0)


async def _forget_as_notified(
    connection: psycopg.AsyncConnection[object],
    cache: Cache,
    key: Callable[[str], str],
    hold_seconds: int | None,
) -> None:
    """Forgets each notified key; those that arrived together in one round trip."""
    while True:
        # Waits for the next notification and takes every one that came with it.
        payloads = [notify.payload async for notify in connection.notifies(stop_after=1)]
        keys = (key(payload) for payload in dict.fromkeys(payloads))
        await cache.invalidate(*keys, hold_seconds=hold_seconds)
