"""One matcher tick: load the queue, plan the pairings, persist the matches and start sagas.

A tick runs under a PostgreSQL advisory lock, so with several replicas only one plans
at a time; the unique index on open match participants backs that up.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, delete, func, text
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kindred import failpoints
from kindred.calendar import age_on
from kindred.db import Database
from subgraphs.queuing import events, matching, saga
from subgraphs.queuing.models import Match, MatchParticipant, QueueEntry

log = logging.getLogger(__name__)

# Any constant works, as long as every replica uses the same one.
MATCHER_LOCK_ID = 0x6B696E6472656400  # "kindred\0"

_MATCHABLE = text(
    """
    SELECT q.user_id, q.joined_at, c.birthdate, c.gender, c.latitude, c.longitude,
           c.interests, c.languages, c.min_age, c.max_age, c.genders_sought, c.max_distance_km
    FROM queue_entries q
    JOIN profile_copies c ON c.user_id = q.user_id
    WHERE NOT c.deleted AND c.latitude IS NOT NULL AND c.longitude IS NOT NULL
      AND NOT EXISTS (
        SELECT 1 FROM suspensions s
        WHERE s.user_id = q.user_id AND (s.until IS NULL OR s.until > :now))
      AND NOT EXISTS (
        SELECT 1 FROM match_participants p WHERE p.user_id = q.user_id AND p.open)
    """
)

_EXCLUDED = text(
    """
    SELECT e.user_id, e.other_user_id FROM pair_exclusions e
    JOIN queue_entries q ON q.user_id = e.user_id
    WHERE e.until IS NULL OR e.until > :now
    """
)


@dataclass(frozen=True)
class TickReport:
    """What one tick did (ran is False when another replica held the lock)."""

    ran: bool
    queued: int = 0
    matches: int = 0
    plan_ms: float = 0.0
    total_ms: float = 0.0


def _seekers(rows: Sequence[Row[Any]], now: datetime) -> list[matching.Seeker]:
    today = now.date()
    return [
        matching.Seeker(
            user_id=row.user_id,
            age=age_on(row.birthdate, today),
            gender=row.gender,
            latitude=row.latitude,
            longitude=row.longitude,
            interests=row.interests,
            languages=row.languages,
            min_age=row.min_age,
            max_age=row.max_age,
            genders_sought=row.genders_sought,
            max_distance_km=row.max_distance_km,
            waited_seconds=(now - row.joined_at).total_seconds(),
        )
        for row in rows
    ]


async def _take_from_queue(
    session: AsyncSession, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, datetime]:
    """Removes these members from the queue; who was still there, with their join time."""
    if not user_ids:
        return {}
    taken = await session.exec(
        delete(QueueEntry)
        .where(col(QueueEntry.user_id).in_(user_ids))
        .returning(col(QueueEntry.user_id), col(QueueEntry.joined_at))
    )
    return {user_id: joined_at for user_id, joined_at in taken.all()}


async def tick(db: Database, policy: saga.RetryPolicy) -> TickReport:
    """Matches who can be matched now, in one transaction; every match starts its saga."""
    started = time.perf_counter()
    async with db.unit_of_work() as uow:
        session = uow.session
        locked = (await session.exec(select(func.pg_try_advisory_xact_lock(MATCHER_LOCK_ID)))).one()
        if not locked:
            return TickReport(ran=False)
        now = datetime.now(UTC)
        connection = await session.connection()
        rows = (await connection.execute(_MATCHABLE, {"now": now})).all()
        excluded = [
            frozenset(pair) for pair in (await connection.execute(_EXCLUDED, {"now": now})).all()
        ]
        planned_at = time.perf_counter()
        snapshot = matching.QueueSnapshot.from_seekers(_seekers(rows, now))
        pairings = matching.plan_matches(snapshot, excluded=excluded)
        plan_ms = (time.perf_counter() - planned_at) * 1000
        taken = await _take_from_queue(
            session, [user_id for pairing in pairings for user_id in pairing.user_ids]
        )
        matches: list[Match] = []
        for pairing in pairings:
            if not all(user_id in taken for user_id in pairing.user_ids):
                continue  # someone left the queue meanwhile: the other goes back below
            match = Match(
                user_ids=list(pairing.user_ids),
                score=pairing.score,
                distance_km=pairing.distance_km,
                status=saga.MatchStatus.PENDING,
                next_attempt_at=now + policy.wait_after(1),
                created_at=now,
                updated_at=now,
            )
            matches.append(match)
        matched = {user_id for match in matches for user_id in match.user_ids}
        leftovers = [
            {"user_id": user_id, "joined_at": joined_at}
            for user_id, joined_at in taken.items()
            if user_id not in matched
        ]
        if leftovers:
            await session.exec(insert(QueueEntry).values(leftovers).on_conflict_do_nothing())
        if matches:
            session.add_all(matches)
            await session.flush()
            await session.exec(
                insert(MatchParticipant).values(
                    [
                        {
                            "match_id": match.id,
                            "user_id": user_id,
                            "open": True,
                            "queued_since": taken[user_id],
                            "created_at": now,
                        }
                        for match in matches
                        for user_id in match.user_ids
                    ]
                )
            )
            for match in matches:
                uow.publish(events.match_created(match))
        await uow.commit()
    failpoints.reach("matcher.committed")
    report = TickReport(
        ran=True,
        queued=len(rows),
        matches=len(matches),
        plan_ms=plan_ms,
        total_ms=(time.perf_counter() - started) * 1000,
    )
    if matches:
        log.info(
            "matcher: %d matches from %d queued (%.1f ms)",
            report.matches,
            report.queued,
            report.total_ms,
        )
    return report
