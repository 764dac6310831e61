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

from sqlalchemy import Row, Uuid, any_, bindparam, delete, func, text
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

import kindred.failpoints as failpoints
from kindred.db import Database
from kindred.member_state import Entitlement
from subgraphs.queuing import events, matching, saga
from subgraphs.queuing.models import Match, QueueEntry

log = logging.getLogger(__name__)

# Any constant works, as long as every replica uses the same one.
MATCHER_LOCK_ID = 0x6B696E6472656400  # "kindred\0"
# KINDRED_FREE_MAX_DISTANCE_KM's default: the farthest a member without WIDER_DISTANCE matches.
DEFAULT_FREE_MAX_DISTANCE_KM = 100

# The queue as one row of columns (element i of every array is member i): a column per
# attribute costs a fraction of a row per member. List-valued attributes come flattened,
# with each member's count alongside. Age and waited seconds are counted here, on the
# tick's date and clock: a birthday not reached yet this year takes one off (29 February
# counts on 1 March, as in kindred.calendar.age_on). A member's maximum distance is capped
# at the free limit unless WIDER_DISTANCE is in force for them (the `entitlements` read
# model, fed by `subscription.changed`; it lapses by itself at its `until`).
_MATCHABLE = text(
    """
    WITH matchable AS MATERIALIZED (
        SELECT row_number() OVER () AS i, q.user_id,
               :year - date_part('year', c.birthdate)::int
                 - (to_char(c.birthdate, 'MMDD') > :month_day)::int AS age,
               c.gender, c.latitude, c.longitude, c.interests, c.languages, c.min_age,
               c.max_age, c.genders_sought,
               CASE WHEN EXISTS (
                   SELECT 1 FROM entitlements e
                   WHERE e.user_id = q.user_id AND :wider_distance = ANY(e.names)
                     AND (e.until IS NULL OR e.until > :now))
                 THEN c.max_distance_km
                 ELSE LEAST(c.max_distance_km, :free_max_distance_km)
               END AS max_distance_km,
               date_part('epoch', :now - q.joined_at) AS waited_seconds
        FROM queue_entries q
        JOIN profile_copies c ON c.user_id = q.user_id
        WHERE NOT c.deleted AND c.latitude IS NOT NULL AND c.longitude IS NOT NULL
          AND NOT EXISTS (
            SELECT 1 FROM suspensions s
            WHERE s.user_id = q.user_id AND (s.until IS NULL OR s.until > :now))
          AND NOT EXISTS (
            SELECT 1 FROM match_participants p WHERE p.user_id = q.user_id AND p.open)
    )
    SELECT coalesce(array_agg(user_id ORDER BY i), '{}') AS user_ids,
           coalesce(array_agg(age ORDER BY i), '{}') AS age,
           coalesce(array_agg(gender ORDER BY i), '{}') AS gender,
           coalesce(array_agg(latitude ORDER BY i), '{}') AS latitude,
           coalesce(array_agg(longitude ORDER BY i), '{}') AS longitude,
           coalesce(array_agg(cardinality(interests) ORDER BY i), '{}') AS interest_counts,
           coalesce(array_agg(cardinality(languages) ORDER BY i), '{}') AS language_counts,
           coalesce(array_agg(min_age ORDER BY i), '{}') AS min_age,
           coalesce(array_agg(max_age ORDER BY i), '{}') AS max_age,
           coalesce(array_agg(cardinality(genders_sought) ORDER BY i), '{}') AS sought_counts,
           coalesce(array_agg(max_distance_km ORDER BY i), '{}') AS max_distance_km,
           coalesce(array_agg(waited_seconds ORDER BY i), '{}') AS waited_seconds,
           (SELECT coalesce(array_agg(word ORDER BY i, n), '{}')
            FROM matchable, unnest(interests) WITH ORDINALITY AS u(word, n)) AS interests,
           (SELECT coalesce(array_agg(word ORDER BY i, n), '{}')
            FROM matchable, unnest(languages) WITH ORDINALITY AS u(word, n)) AS languages,
           (SELECT coalesce(array_agg(word ORDER BY i, n), '{}')
            FROM matchable, unnest(genders_sought) WITH ORDINALITY AS u(word, n))
             AS genders_sought
    FROM matchable
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


def _snapshot(columns: Row[Any]) -> matching.QueueSnapshot:
    """The matcher's snapshot of the queue loaded by `_MATCHABLE`."""
    return matching.QueueSnapshot.from_columns(
        user_ids=columns.user_ids,
        age=columns.age,
        gender=columns.gender,
        latitude=columns.latitude,
        longitude=columns.longitude,
        interests=matching.Ragged(columns.interests, columns.interest_counts),
        languages=matching.Ragged(columns.languages, columns.language_counts),
        min_age=columns.min_age,
        max_age=columns.max_age,
        genders_sought=matching.Ragged(columns.genders_sought, columns.sought_counts),
        max_distance_km=columns.max_distance_km,
        waited_seconds=columns.waited_seconds,
    )


def _matchable_parameters(now: datetime, free_max_distance_km: int) -> dict[str, Any]:
    """What `_MATCHABLE` counts ages and waits from (the tick's clock and calendar date),
    and the distance cap of members without WIDER_DISTANCE."""
    return {
        "now": now,
        "year": now.year,
        "month_day": f"{now:%m%d}",
        "free_max_distance_km": free_max_distance_km,
        "wider_distance": Entitlement.WIDER_DISTANCE.value,
    }


async def _take_from_queue(
    session: AsyncSession, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, datetime]:
    """Removes these members from the queue; who was still there, with their join time."""
    if not user_ids:
        return {}
    # One array parameter: a tick may take more members than a statement has parameters.
    taken = await session.exec(
        delete(QueueEntry)
        .where(col(QueueEntry.user_id) == any_(bindparam("ids", type_=ARRAY(Uuid))))
        .returning(col(QueueEntry.user_id), col(QueueEntry.joined_at)),
        params={"ids": list(user_ids)},
    )
    return {user_id: joined_at for user_id, joined_at in taken.all()}


# Whole columns as array parameters: one statement per table however many matches a
# tick makes (an executemany of tens of thousands of rows costs seconds).
_INSERT_MATCHES = text(
    """
    INSERT INTO matches (id, user_ids, score, distance_km, status, notified_user_ids,
                         attempts, next_attempt_at, version, created_at, updated_at)
    SELECT id, ARRAY[a, b], score, distance_km, :status, '{}', 1, :next_attempt_at, 1,
           :now, :now
    FROM unnest(CAST(:ids AS uuid[]), CAST(:a AS uuid[]), CAST(:b AS uuid[]),
                CAST(:scores AS float8[]), CAST(:distances AS float8[]))
         AS t(id, a, b, score, distance_km)
    """
)
_INSERT_PARTICIPANTS = text(
    """
    INSERT INTO match_participants (match_id, user_id, open, queued_since, created_at)
    SELECT match_id, user_id, true, queued_since, :now
    FROM unnest(CAST(:match_ids AS uuid[]), CAST(:user_ids AS uuid[]),
                CAST(:queued_since AS timestamptz[])) AS t(match_id, user_id, queued_since)
    """
)


async def _persist(
    session: AsyncSession, matches: Sequence[Match], taken: dict[uuid.UUID, datetime]
) -> None:
    """Inserts the matches and their participants, one statement each."""
    if not matches:
        return
    connection = await session.connection()
    first = matches[0]
    await connection.execute(
        _INSERT_MATCHES,
        {
            "ids": [match.id for match in matches],
            "a": [match.user_ids[0] for match in matches],
            "b": [match.user_ids[1] for match in matches],
            "scores": [match.score for match in matches],
            "distances": [match.distance_km for match in matches],
            "status": first.status,
            "next_attempt_at": first.next_attempt_at,
            "now": first.created_at,
        },
    )
    members = [(match.id, user_id) for match in matches for user_id in match.user_ids]
    await connection.execute(
        _INSERT_PARTICIPANTS,
        {
            "match_ids": [match_id for match_id, _ in members],
            "user_ids": [user_id for _, user_id in members],
            "queued_since": [taken[user_id] for _, user_id in members],
            "now": first.created_at,
        },
    )


async def tick(
    db: Database,
    policy: saga.RetryPolicy,
    *,
    free_max_distance_km: int = DEFAULT_FREE_MAX_DISTANCE_KM,
) -> TickReport:
    """Matches who can be matched now, in one transaction; every match starts its saga.
    Members without WIDER_DISTANCE match within `free_max_distance_km` at most."""
    started = time.perf_counter()
    async with db.unit_of_work() as uow:
        session = uow.session
        locked = (await session.exec(select(func.pg_try_advisory_xact_lock(MATCHER_LOCK_ID)))).one()
        if not locked:
            return TickReport(ran=False)
        now = datetime.now(UTC)
        connection = await session.connection()
        columns = (
            await connection.execute(_MATCHABLE, _matchable_parameters(now, free_max_distance_km))
        ).one()
        excluded = [
            frozenset(pair) for pair in (await connection.execute(_EXCLUDED, {"now": now})).all()
        ]
        planned_at = time.perf_counter()
        snapshot = _snapshot(columns)
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
            await connection.execute(insert(QueueEntry).on_conflict_do_nothing(), leftovers)
        await _persist(session, matches, taken)
        for match in matches:
            uow.publish(events.match_created(match))
        await uow.commit()
    if matches:
        failpoints.reach("matcher.committed")
    report = TickReport(
        ran=True,
        queued=len(snapshot),
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
