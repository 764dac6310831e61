"""Queue entries through the Redis cache: `queueEntry` is what a waiting member's app
polls, and what every gateway request for it costs the queuing subgraph.

Cache-aside with kindred.cache's rules: readers fill with set-if-absent, and every write
to a member's entry or profile copy forgets it after its commit, which leaves a tombstone,
so a reader that loaded the old row before the commit cannot put it back. The database
says which: a trigger on both tables NOTIFYs the member's id at commit (migration 0004)
and each replica's `listener` forgets it (kindred.invalidation), whoever wrote (a
mutation, an event, the matcher, the saga). Joining and leaving also forget it themselves
before they answer, so the member's next read sees their own change on any replica. A
member who is not queued is cached too (`NOT_QUEUED`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from kindred.cache import Cache
from kindred.db import Database
from kindred.invalidation import forget_on_notify
from kindred.platform import Platform
from subgraphs.queuing import service

NOT_QUEUED = b"{}"
# How long a forgotten entry stays uncacheable: a reader fills milliseconds after its
# read, and a member's first polls after joining should not all reach the database.
HOLD_SECONDS = 5
# What the migration's triggers NOTIFY: the id of a member whose entry or copy changed.
CHANNEL = "queuing_entries"


@dataclass(frozen=True)
class EntryView:
    """A queue entry with its profile copy: the columns `service.entries` reads."""

    user_id: uuid.UUID
    joined_at: datetime
    birthdate: date
    gender: str
    latitude: float | None
    longitude: float | None
    interests: list[str]
    languages: list[str]
    synced_version: int
    synced_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> EntryView:
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), default=str).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> EntryView:
        values = json.loads(raw)
        return cls(
            **{
                **values,
                "user_id": uuid.UUID(values["user_id"]),
                "joined_at": datetime.fromisoformat(values["joined_at"]),
                "birthdate": date.fromisoformat(values["birthdate"]),
                "synced_at": datetime.fromisoformat(values["synced_at"]),
            }
        )


def _key(user_id: uuid.UUID | str) -> str:
    return f"entry:{user_id}"


async def entries(
    db: Database, cache: Cache, user_ids: Sequence[uuid.UUID]
) -> list[EntryView | None]:
    """These members' entries, in order (None where not queued): the cache, then one query
    for the rest, which fills the cache."""
    cached = await cache.get_many(_key(user_id) for user_id in user_ids)
    found: dict[uuid.UUID, EntryView | None] = {}
    for user_id in user_ids:
        raw = cached.get(_key(user_id))
        if raw is not None:
            found[user_id] = None if raw == NOT_QUEUED else EntryView.from_json(raw)
    missing = [user_id for user_id in dict.fromkeys(user_ids) if user_id not in found]
    if missing:
        rows = await service.entries(db, missing)
        loaded = {
            user_id: EntryView.from_row(row) if row is not None else None
            for user_id, row in zip(missing, rows, strict=True)
        }
        found.update(loaded)
        await cache.add_many(
            {
                _key(user_id): view.to_json() if view else NOT_QUEUED
                for user_id, view in loaded.items()
            }
        )
    return [found[user_id] for user_id in user_ids]


async def forget(cache: Cache, user_ids: Iterable[uuid.UUID]) -> None:
    """After a commit that changed these members' entries or profile copies: no replica
    serves what it cached before."""
    keys = [_key(user_id) for user_id in dict.fromkeys(user_ids)]
    if keys:
        await cache.invalidate(*keys, hold_seconds=HOLD_SECONDS)


async def listener(platform: Platform) -> None:
    """The subgraph task that forgets what the database says changed (until cancelled)."""
    await forget_on_notify(
        platform.db,
        platform.cache,
        channel=CHANNEL,
        key=_key,
        every_key=_key("*"),
        hold_seconds=HOLD_SECONDS,
    )
