"""What the interaction subgraph does: reactions between matched members, connections, ratings.

The rule for opposite reactions: the latest one wins. A pass after a like withdraws the
like (and a like after a pass ends the pass); a block wins over everything: it clears the
blocker's like or pass and ends the pair's connection, and while it stands the blocker
may neither like nor pass (`FORBIDDEN`: unblock first). A connection, once made, lasts
until either member blocks the other; a later pass does not end it.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, and_, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from kindred.db import UnitOfWork
from kindred.errors import BadUserInput, Forbidden, NotFound
from kindred.pagination import older_than
from subgraphs.interaction import events
from subgraphs.interaction.models import Connection, MatchRecord, Rating, Relation

MAX_COMMENT_LENGTH = 500


class Kind(StrEnum):
    """What an `interaction.recorded` event records."""

    LIKE = "LIKE"
    PASS = "PASS"
    BLOCK = "BLOCK"
    UNBLOCK = "UNBLOCK"
    RATE = "RATE"


def _now() -> datetime:
    return datetime.now(UTC)


def _pair(a: uuid.UUID, b: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    return (a, b) if a < b else (b, a)


# -- the match read model -------------------------------------------------------------


async def record_match(
    session: AsyncSession,
    *,
    match_id: uuid.UUID,
    user_ids: Sequence[uuid.UUID],
    matched_at: datetime,
) -> None:
    """Remembers that these two members were matched (a repeat changes nothing)."""
    user_a, user_b = _pair(*user_ids)
    await session.exec(
        insert(MatchRecord)
        .values(match_id=match_id, user_a=user_a, user_b=user_b, matched_at=matched_at)
        .on_conflict_do_nothing()
    )


async def last_match_between(session: AsyncSession, a: uuid.UUID, b: uuid.UUID) -> uuid.UUID | None:
    """The latest match of these two members, or None if they were never matched."""
    user_a, user_b = _pair(a, b)
    statement = (
        select(col(MatchRecord.match_id))
        .where(col(MatchRecord.user_a) == user_a, col(MatchRecord.user_b) == user_b)
        .order_by(col(MatchRecord.matched_at).desc())
        .limit(1)
    )
    return (await session.exec(statement)).scalar_one_or_none()  # type: ignore[call-overload]


# -- reactions ------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """A relation after a reaction; `changed` is False when the reaction was already so."""

    relation: Relation
    changed: bool
    connected: bool


async def _lock_pair(
    session: AsyncSession, actor_id: uuid.UUID, target_id: uuid.UUID, now: datetime
) -> tuple[Relation, Relation]:
    """Both directions of the pair (made if missing), locked in one order for everyone."""
    await session.exec(
        insert(Relation)
        .values(
            [
                {"actor_id": actor_id, "target_id": target_id, "updated_at": now},
                {"actor_id": target_id, "target_id": actor_id, "updated_at": now},
            ]
        )
        .on_conflict_do_nothing()
    )
    rows = (
        await session.exec(
            select(Relation)  # type: ignore[call-overload]
            .where(
                or_(
                    and_(col(Relation.actor_id) == actor_id, col(Relation.target_id) == target_id),
                    and_(col(Relation.actor_id) == target_id, col(Relation.target_id) == actor_id),
                )
            )
            .order_by(col(Relation.actor_id))
            .with_for_update()
        )
    ).scalars()
    by_actor = {row.actor_id: row for row in rows}
    return by_actor[actor_id], by_actor[target_id]


def _apply(relation: Relation, kind: Kind, *, now: datetime, pass_window: timedelta) -> bool:
    """Changes `relation` as `kind` asks by the latest-wins rule; False if nothing changes."""
    if kind in (Kind.LIKE, Kind.PASS) and relation.blocked:
        raise Forbidden("You blocked this member: unblock them first.")
    if kind == Kind.LIKE:
        if relation.reaction == Kind.LIKE:
            return False
        relation.reaction, relation.reacted_at, relation.pass_until = Kind.LIKE, now, None
    elif kind == Kind.PASS:
        if relation.reaction == Kind.PASS and relation.pass_until and relation.pass_until > now:
            return False
        relation.reaction, relation.reacted_at = Kind.PASS, now
        relation.pass_until = now + pass_window
    elif kind == Kind.BLOCK:
        if relation.blocked:
            return False
        relation.blocked, relation.blocked_at = True, now
        relation.reaction, relation.reacted_at, relation.pass_until = None, None, None
    elif kind == Kind.UNBLOCK:
        if not relation.blocked:
            return False
        relation.blocked, relation.blocked_at = False, None
    return True


async def react(
    uow: UnitOfWork,
    *,
    actor_id: uuid.UUID,
    target_id: uuid.UUID,
    kind: Kind,
    pass_window: timedelta,
) -> Outcome:
    """Records the actor's like, pass, block or unblock of the target, in `uow`.

    Like and pass need a match between the two (`NOT_FOUND` otherwise); anyone may be
    blocked. The same reaction again changes and publishes nothing. A like that meets the
    target's like connects the two (`interaction.connected`, once per connection).
    """
    if actor_id == target_id:
        raise BadUserInput("That is you.", field="userId")
    session = uow.session
    match_id = await last_match_between(session, actor_id, target_id)
    if match_id is None and kind in (Kind.LIKE, Kind.PASS):
        raise NotFound("You were never matched with this member.", field="userId")
    now = _now()
    mine, theirs = await _lock_pair(session, actor_id, target_id, now)
    changed = _apply(mine, kind, now=now, pass_window=pass_window)
    if changed:
        mine.version += 1
        mine.updated_at = now
        mine.match_id = match_id or mine.match_id
        session.add(mine)
        uow.publish(events.interaction_recorded(mine, kind=kind, occurred_at=now))
    if changed and kind == Kind.LIKE and theirs.reaction == Kind.LIKE:
        await _connect(uow, actor_id, target_id, match_id=match_id, now=now)
    elif changed and kind == Kind.BLOCK:
        await _disconnect(session, actor_id, target_id, now=now)
    await session.flush()
    return Outcome(mine, changed, await is_connected(session, actor_id, target_id))


async def _connect(
    uow: UnitOfWork, a: uuid.UUID, b: uuid.UUID, *, match_id: uuid.UUID | None, now: datetime
) -> None:
    """Makes the pair's connection ACTIVE and publishes it; nothing if it already is."""
    user_a, user_b = _pair(a, b)
    values = insert(Connection).values(
        id=uuid.uuid4(), user_a=user_a, user_b=user_b, match_id=match_id, connected_at=now
    )
    statement = values.on_conflict_do_update(
        index_elements=["user_a", "user_b"],
        set_={
            "status": "ACTIVE",
            "version": Connection.__table__.c.version + 1,  # type: ignore[attr-defined]
            "match_id": values.excluded.match_id,
            "connected_at": now,
            "ended_at": None,
        },
        where=col(Connection.status) == "ENDED",
    ).returning(Connection)
    row = (await uow.session.exec(statement)).first()
    if row is not None:
        uow.publish(events.connected(row[0] if isinstance(row, Row) else row))


async def _disconnect(session: AsyncSession, a: uuid.UUID, b: uuid.UUID, *, now: datetime) -> None:
    user_a, user_b = _pair(a, b)
    await session.exec(
        update(Connection)
        .where(
            col(Connection.user_a) == user_a,
            col(Connection.user_b) == user_b,
            col(Connection.status) == "ACTIVE",
        )
        .values(status="ENDED", ended_at=now, version=col(Connection.version) + 1)
    )


async def is_connected(session: AsyncSession, a: uuid.UUID, b: uuid.UUID) -> bool:
    """True while the two members' connection is ACTIVE."""
    user_a, user_b = _pair(a, b)
    statement = select(
        exists().where(
            col(Connection.user_a) == user_a,
            col(Connection.user_b) == user_b,
            col(Connection.status) == "ACTIVE",
        )
    )
    return bool((await session.exec(statement)).scalar())  # type: ignore[call-overload]


# -- ratings --------------------------------------------------------------------------


def check_rating(rating: int, comment: str | None) -> str | None:
    """The comment as stored (trimmed; None if empty); `BAD_USER_INPUT` on a bad value."""
    if not 1 <= rating <= 5:
        raise BadUserInput("A rating is 1 to 5.", field="rating")
    if comment is None or not comment.strip():
        return None
    if len(comment) > MAX_COMMENT_LENGTH:
        raise BadUserInput(
            f"A comment is at most {MAX_COMMENT_LENGTH} characters.", field="comment"
        )
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in comment):
        raise BadUserInput("A comment may not hold control characters.", field="comment")
    return comment.strip()


async def rate_conversation(
    uow: UnitOfWork, *, rater_id: uuid.UUID, match_id: uuid.UUID, rating: int, comment: str | None
) -> Rating:
    """Stores the rater's rating of a match's conversation (a new one replaces it), in `uow`.

    Not a member of that match: `NOT_FOUND`. The same rating and comment again changes and
    publishes nothing.
    """
    stored_comment = check_rating(rating, comment)
    session = uow.session
    match = await session.get(MatchRecord, match_id)
    if match is None or rater_id not in (match.user_a, match.user_b):
        raise NotFound("No such match.", field="matchId")
    target_id = match.user_b if rater_id == match.user_a else match.user_a
    now = _now()
    mine, _ = await _lock_pair(session, rater_id, target_id, now)
    existing = await session.get(Rating, (match_id, rater_id))
    if existing is not None and (existing.rating, existing.comment) == (rating, stored_comment):
        return existing
    stored = existing or Rating(
        match_id=match_id, rater_id=rater_id, target_id=target_id, rating=rating
    )
    stored.rating, stored.comment, stored.rated_at = rating, stored_comment, now
    session.add(stored)
    mine.version += 1
    mine.updated_at = now
    session.add(mine)
    uow.publish(
        events.interaction_recorded(
            mine, kind=Kind.RATE, occurred_at=now, match_id=match_id, rating=rating
        )
    )
    await session.flush()
    return stored


# -- reads (one query per batch) ------------------------------------------------------


async def reactions_of(
    connection: AsyncConnection, *, actor_id: uuid.UUID, target_ids: Sequence[uuid.UUID]
) -> list[Row[Any] | None]:
    """The actor's relation to each target, with whether the two are connected, in order."""
    user_a = func.least(col(Relation.actor_id), col(Relation.target_id))
    user_b = func.greatest(col(Relation.actor_id), col(Relation.target_id))
    connected = exists().where(
        col(Connection.user_a) == user_a,
        col(Connection.user_b) == user_b,
        col(Connection.status) == "ACTIVE",
    )
    rows: Any = await connection.execute(
        select(Relation, connected.label("connected")).where(
            col(Relation.actor_id) == actor_id,
            col(Relation.target_id).in_(target_ids),
            col(Relation.version) > 0,
        )
    )
    found = {row.target_id: row for row in rows}
    return [found.get(target) for target in target_ids]


async def connections_of(
    connection: AsyncConnection, *, user_id: uuid.UUID, first: int, after: str | None
) -> list[Row[Any]]:
    """Up to `first + 1` of the member's active connections, newest first, after the cursor."""
    statement = (
        select(Connection)
        .where(
            or_(col(Connection.user_a) == user_id, col(Connection.user_b) == user_id),
            col(Connection.status) == "ACTIVE",
        )
        .order_by(col(Connection.connected_at).desc(), col(Connection.id).desc())
        .limit(first + 1)
    )
    cursor = older_than(col(Connection.connected_at), col(Connection.id), after, id_type=uuid.UUID)
    if cursor is not None:
        statement = statement.where(cursor)
    return list((await connection.execute(statement)).all())


async def blocked_by(
    connection: AsyncConnection, *, user_id: uuid.UUID, first: int, after: str | None
) -> list[Row[Any]]:
    """Up to `first + 1` of the members this member blocks, latest first, after the cursor."""
    statement = (
        select(Relation)
        .where(col(Relation.actor_id) == user_id, col(Relation.blocked))
        .order_by(col(Relation.blocked_at).desc(), col(Relation.target_id).desc())
        .limit(first + 1)
    )
    cursor = older_than(col(Relation.blocked_at), col(Relation.target_id), after, id_type=uuid.UUID)
    if cursor is not None:
        statement = statement.where(cursor)
    return list((await connection.execute(statement)).all())


def _unanswered_likes(user_id: uuid.UUID) -> Any:
    """Likes of `user_id` that stand and that they have not answered (no like, pass or
    block of theirs, and no block of the liker's)."""
    answer = aliased(Relation)
    return and_(
        col(Relation.target_id) == user_id,
        col(Relation.reaction) == Kind.LIKE,
        ~exists().where(
            col(answer.actor_id) == user_id,
            col(answer.target_id) == col(Relation.actor_id),
            or_(col(answer.reaction).is_not(None), col(answer.blocked)),
        ),
    )


async def likes_of(
    connection: AsyncConnection, *, user_id: uuid.UUID, first: int, after: str | None
) -> list[Row[Any]]:
    """Up to `first + 1` unanswered likes of the member, newest first, after the cursor."""
    statement = (
        select(Relation)
        .where(_unanswered_likes(user_id))
        .order_by(col(Relation.reacted_at).desc(), col(Relation.actor_id).desc())
        .limit(first + 1)
    )
    cursor = older_than(col(Relation.reacted_at), col(Relation.actor_id), after, id_type=uuid.UUID)
    if cursor is not None:
        statement = statement.where(cursor)
    return list((await connection.execute(statement)).all())


async def like_count(connection: AsyncConnection, *, user_id: uuid.UUID) -> int:
    """How many unanswered likes the member has."""
    statement = select(func.count()).select_from(Relation).where(_unanswered_likes(user_id))
    return int((await connection.execute(statement)).scalar_one())
