"""What the queuing subgraph does: keep profile copies fresh, let members join and leave."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ARRAY, Row, Uuid, any_, bindparam, delete, func, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kindred import member_state
from kindred.db import Database
from kindred.errors import Conflict, Forbidden
from kindred.pagination import older_than
from subgraphs.queuing import saga
from subgraphs.queuing.models import (
    Match,
    MatchParticipant,
    PairExclusion,
    ProfileCopy,
    QueueEntry,
)

_COPIED = ("birthdate", "gender", "latitude", "longitude", "interests", "languages")
# Preferences arrived in events later than the profile: older events fall back to these.
_PREFERENCE_DEFAULTS: dict[str, Any] = {
    "min_age": 18,
    "max_age": 99,
    "genders_sought": [],
    "max_distance_km": 50,
}


def _now() -> datetime:
    return datetime.now(UTC)


def snapshot_values(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """The copied columns from a profile snapshot (event payload or fresh read)."""
    values = {name: snapshot[name] for name in _COPIED}
    values.update({name: snapshot.get(name, value) for name, value in _PREFERENCE_DEFAULTS.items()})
    if isinstance(values["birthdate"], str):
        values["birthdate"] = date.fromisoformat(values["birthdate"])
    return values


async def apply_profile(
    session: AsyncSession, *, user_id: uuid.UUID, version: int, snapshot: Mapping[str, Any]
) -> bool:
    """Stores the profile at `version` unless a copy as new or newer is there; True if stored."""
    values = {
        **snapshot_values(snapshot),
        "synced_version": version,
        "synced_at": _now(),
        "deleted": False,
    }
    upsert = insert(ProfileCopy).values(user_id=user_id, **values)
    statement = upsert.on_conflict_do_update(
        index_elements=["user_id"],
        set_=values,
        where=member_state.newer_or_different(
            ProfileCopy.__table__,  # type: ignore[attr-defined]
            upsert.excluded,
            "synced_version",
            [name for name in values if name != "synced_at"],
        ),
    ).returning(col(ProfileCopy.user_id))
    return (await session.exec(statement)).first() is not None


async def forget_member(session: AsyncSession, *, user_id: uuid.UUID, version: int) -> None:
    """A deleted member leaves the queue; the copy is marked so older news cannot revive it."""
    await session.exec(
        update(ProfileCopy)
        .where(
            col(ProfileCopy.user_id) == user_id,
            (col(ProfileCopy.synced_version) < version)
            | ((col(ProfileCopy.synced_version) == version) & ~col(ProfileCopy.deleted)),
        )
        .values(deleted=True, synced_version=version, synced_at=_now())
    )
    await session.exec(delete(QueueEntry).where(col(QueueEntry.user_id) == user_id))


async def _exclude(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    other_user_id: uuid.UUID,
    reason: str,
    until: datetime | None,
    version: int,
) -> None:
    """Keeps the pair apart for `reason` until `until` (None: until lifted), unless a row as
    newer is there or one at the same version says the same (kindred.member_state's rule).
    Lifting writes a past `until`: the row keeps its version."""
    values = {"until": until, "version": version}
    upsert = insert(PairExclusion).values(
        user_id=user_id, other_user_id=other_user_id, reason=reason, **values
    )
    table: Any = PairExclusion.__table__  # type: ignore[attr-defined]
    await session.exec(
        upsert.on_conflict_do_update(
            index_elements=["user_id", "other_user_id", "reason"],
            set_=values,
            where=member_state.newer_or_different(table, upsert.excluded, "version", values),
        )
    )


async def apply_interaction(
    session: AsyncSession,
    *,
    actor_id: uuid.UUID,
    target_id: uuid.UUID,
    kind: str,
    version: int,
    blocked: bool,
    pass_until: datetime | None,
    occurred_at: datetime,
) -> None:
    """Applies the actor's relation to the target at `version` to the pair's exclusions: a
    block keeps the two apart until lifted, a pass until `pass_until`; a like or a block ends
    a pass (the interaction subgraph clears it then too)."""
    pair: dict[str, Any] = {"user_id": actor_id, "other_user_id": target_id, "version": version}
    if kind in ("BLOCK", "UNBLOCK"):
        await _exclude(session, reason="BLOCK", until=None if blocked else occurred_at, **pair)
    if kind == "PASS":
        await _exclude(session, reason="PASS", until=pass_until, **pair)
    elif kind in ("LIKE", "BLOCK"):
        await _exclude(session, reason="PASS", until=occurred_at, **pair)


async def join(
    session: AsyncSession, *, user_id: uuid.UUID, version: int, snapshot: Mapping[str, Any]
) -> QueueEntry | None:
    """Puts the member in the queue with a copy at least as new as `version`; the new entry,
    or None if they were queued already (their place is kept).

    Going back to the queue ends the member's active match; while a match is still
    being set up, joining is a `CONFLICT`. A suspended or banned member is `FORBIDDEN`.
    """
    await refuse_if_suspended(session, user_id)
    current = await open_match(session, user_id=user_id)
    if current is not None:
        if current.status == saga.MatchStatus.PENDING:
            raise Conflict("Your match is being set up; try again in a moment.")
        saga.end(current, now=_now())
        session.add(current)
        await session.exec(
            update(MatchParticipant)
            .where(col(MatchParticipant.match_id) == current.id)
            .values(open=False)
        )
    await apply_profile(session, user_id=user_id, version=version, snapshot=snapshot)
    joined_at = _now()
    inserted = await session.exec(
        insert(QueueEntry)
        .values(user_id=user_id, joined_at=joined_at)
        .on_conflict_do_nothing()
        .returning(col(QueueEntry.user_id))
    )
    if inserted.first() is None:
        return None
    return QueueEntry(user_id=user_id, joined_at=joined_at)


async def refuse_if_suspended(session: AsyncSession, user_id: uuid.UUID) -> None:
    """`FORBIDDEN` while moderation suspends or bans the member, saying until when
    (`extensions.reason` SUSPENDED with `until`, or BANNED)."""
    suspended, until = await member_state.suspension_of(session, user_id)
    if not suspended:
        return
    if until is None:
        raise Forbidden("Your account is banned; you cannot join the queue.", reason="BANNED")
    raise Forbidden(
        f"Your account is suspended until {until.isoformat()}; you cannot join the queue "
        "until then.",
        reason="SUSPENDED",
        until=until.isoformat(),
    )


async def leave(session: AsyncSession, *, user_id: uuid.UUID) -> bool:
    """Takes the member out of the queue; False if they were not in it."""
    result = await session.exec(
        delete(QueueEntry)
        .where(col(QueueEntry.user_id) == user_id)
        .returning(col(QueueEntry.user_id))
    )
    return result.first() is not None


# What a queue entry shows: the entry and its profile copy, as plain columns.
_ENTRY_COLUMNS = (
    col(QueueEntry.user_id),
    col(QueueEntry.joined_at),
    *(col(getattr(ProfileCopy, name)) for name in (*_COPIED, "synced_version", "synced_at")),
)


# Built once: `= ANY(:user_ids)` with one array parameter, so a request neither builds
# the statement nor expands an IN list (every `queueEntry` the cache does not hold).
_ENTRIES = (
    select(*_ENTRY_COLUMNS)
    .join_from(QueueEntry, ProfileCopy, col(ProfileCopy.user_id) == col(QueueEntry.user_id))
    .where(col(QueueEntry.user_id) == any_(bindparam("user_ids", type_=ARRAY(Uuid()))))
)


async def entries(db: Database, user_ids: Sequence[uuid.UUID]) -> list[Any]:
    """The queue entries of these members with their profile copies, in one query (rows
    with the columns of `_ENTRY_COLUMNS` as attributes, None where a member is not queued).

    What `entry_cache` reads when Redis does not hold an entry: one prepared statement
    through the driver.
    """
    rows = await db.fetch(_ENTRIES, {"user_ids": list(user_ids)})
    found = {row.user_id: row for row in rows}
    return [found.get(user_id) for user_id in user_ids]


async def queue_length(session: AsyncSession) -> int:
    return int((await session.exec(select(func.count()).select_from(QueueEntry))).one())


async def open_match(session: AsyncSession, *, user_id: uuid.UUID) -> Match | None:
    """The member's PENDING or ACTIVE match, locked for update, if there is one."""
    statement = (
        select(Match)
        .join(MatchParticipant, col(MatchParticipant.match_id) == col(Match.id))
        .where(col(MatchParticipant.user_id) == user_id, col(MatchParticipant.open))
        .with_for_update(of=Match)
    )
    return (await session.exec(statement)).first()


async def matches_by_id(
    connection: AsyncConnection, match_ids: Sequence[uuid.UUID]
) -> list[Row[Any] | None]:
    """These matches, in order (None for an unknown id), in one query."""
    rows = await connection.execute(select(Match).where(col(Match.id).in_(match_ids)))
    found: dict[uuid.UUID, Row[Any]] = {row.id: row for row in rows}
    return [found.get(match_id) for match_id in match_ids]


async def current_matches(
    connection: AsyncConnection, user_ids: Sequence[uuid.UUID]
) -> list[Row[Any] | None]:
    """Each member's open (PENDING or ACTIVE) match, in one query."""
    rows: Any = await connection.execute(
        select(col(MatchParticipant.user_id).label("member_id"), Match)
        .join_from(MatchParticipant, Match, col(Match.id) == col(MatchParticipant.match_id))
        .where(col(MatchParticipant.user_id).in_(user_ids), col(MatchParticipant.open))
    )
    found: dict[uuid.UUID, Row[Any]] = {row.member_id: row for row in rows}
    return [found.get(user_id) for user_id in user_ids]


async def matches_of(
    connection: AsyncConnection, *, user_id: uuid.UUID, first: int, after: str | None
) -> list[Row[Any]]:
    """Up to `first + 1` of the member's matches, newest first, after the cursor."""
    statement = (
        select(Match)
        .join_from(MatchParticipant, Match, col(Match.id) == col(MatchParticipant.match_id))
        .where(col(MatchParticipant.user_id) == user_id)
        .order_by(col(MatchParticipant.created_at).desc(), col(MatchParticipant.match_id).desc())
        .limit(first + 1)
    )
    cursor = older_than(
        col(MatchParticipant.created_at), col(MatchParticipant.match_id), after, id_type=uuid.UUID
    )
    if cursor is not None:
        statement = statement.where(cursor)
    return list((await connection.execute(statement)).all())
