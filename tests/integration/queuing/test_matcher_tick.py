"""The matcher tick against a real PostgreSQL: matches persist, sagas start, nobody twice."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy.exc import IntegrityError

from kindred.db import Database
from kindred.events import Event
from kindred.topics import Topic
from subgraphs.queuing import matchmaking
from subgraphs.queuing.handlers import on_interaction_recorded
from subgraphs.queuing.saga import RetryPolicy

POLICY = RetryPolicy(step_timeout_seconds=10, max_attempts=3)
PARIS = (48.8566, 2.3522)


def _queue(
    url: str,
    *,
    gender: str = "WOMAN",
    seeks: tuple[str, ...] = (),
    at: tuple[float, float] = PARIS,
    languages: tuple[str, ...] = ("fr",),
    birthdate: date = date(1994, 3, 2),
    **preferences: Any,
) -> uuid.UUID:
    """Puts one member (profile copy and queue entry) straight into the database."""
    user_id = uuid.uuid4()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO profile_copies (user_id, birthdate, gender, latitude, longitude, "
            "interests, languages, min_age, max_age, genders_sought, max_distance_km, "
            "deleted, synced_version, synced_at) VALUES "
            "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, false, 1, now())",
            (
                user_id,
                birthdate,
                gender,
                at[0],
                at[1],
                ["climbing"],
                list(languages),
                preferences.get("min_age", 18),
                preferences.get("max_age", 99),
                list(seeks),
                preferences.get("max_distance_km", 50),
            ),
        )
        conn.execute(
            "INSERT INTO queue_entries (user_id, joined_at) VALUES (%s, %s)",
            (user_id, datetime.now(UTC) - timedelta(seconds=30)),
        )
    return user_id


def _rows(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, args).fetchall()


async def test_a_fitting_pair_is_matched_leaves_the_queue_and_starts_its_saga(
    matcher_db: Database, matcher_db_url: str
) -> None:
    a = _queue(matcher_db_url, gender="WOMAN", seeks=("MAN",))
    b = _queue(matcher_db_url, gender="MAN", seeks=("WOMAN",))
    report = await matchmaking.tick(matcher_db, POLICY)
    assert report.ran and report.matches == 1 and report.queued == 2
    [(match_id, user_ids, status, attempts)] = _rows(
        matcher_db_url, "SELECT id, user_ids, status, attempts FROM matches"
    )
    assert set(user_ids) == {a, b} and status == "PENDING" and attempts == 1
    assert _rows(matcher_db_url, "SELECT count(*) FROM queue_entries") == [(0,)]
    assert sorted(_rows(matcher_db_url, "SELECT user_id, open FROM match_participants")) == sorted(
        [(a, True), (b, True)]
    )
    [(topic, value)] = _rows(matcher_db_url, "SELECT topic, value FROM outbox")
    event = Event.from_json(bytes(value))
    assert topic == Topic.QUEUE_MATCH_CREATED and event.aggregate_id == str(match_id)
    assert set(event.payload["user_ids"]) == {str(a), str(b)}


async def test_people_who_do_not_fit_each_other_stay_in_the_queue(
    matcher_db: Database, matcher_db_url: str
) -> None:
    _queue(matcher_db_url, gender="WOMAN", seeks=("MAN",))
    _queue(matcher_db_url, gender="WOMAN", seeks=("MAN",))  # nobody seeks a woman
    _queue(matcher_db_url, gender="MAN", seeks=("MAN",), languages=("de",))  # no shared language
    report = await matchmaking.tick(matcher_db, POLICY)
    assert report.ran and report.matches == 0
    assert _rows(matcher_db_url, "SELECT count(*) FROM queue_entries") == [(3,)]
    assert _rows(matcher_db_url, "SELECT count(*) FROM outbox") == [(0,)]


async def test_excluded_and_suspended_members_are_not_matched(
    matcher_db: Database, matcher_db_url: str
) -> None:
    a, b = _queue(matcher_db_url), _queue(matcher_db_url)
    c, d = _queue(matcher_db_url), _queue(matcher_db_url)
    with psycopg.connect(matcher_db_url, autocommit=True) as conn:
        # a blocked b, and c is suspended: only a and d can still meet.
        conn.execute(
            "INSERT INTO pair_exclusions VALUES"
            " (%s, %s, 'BLOCK', NULL, 1), (%s, %s, 'BLOCK', NULL, 1)",
            (a, b, b, a),
        )
        conn.execute(
            "INSERT INTO suspensions (user_id, until, version)"
            " VALUES (%s, now() + interval '1 day', 1)",
            (c,),
        )
    report = await matchmaking.tick(matcher_db, POLICY)
    assert report.matches == 1
    [(user_ids,)] = _rows(matcher_db_url, "SELECT user_ids FROM matches")
    assert d in user_ids and c not in user_ids and {a, b} != set(user_ids)


def _interaction(
    actor: uuid.UUID,
    target: uuid.UUID,
    kind: str,
    version: int,
    *,
    blocked: bool = False,
    pass_until: datetime | None = None,
) -> Event:
    now = datetime.now(UTC)
    return Event(
        topic=Topic.INTERACTION_RECORDED,
        aggregate_id=str(actor),
        aggregate_version=version,
        payload={
            "actor_id": str(actor),
            "target_id": str(target),
            "kind": kind,
            "version": version,
            "blocked": blocked,
            "pass_until": pass_until.isoformat() if pass_until else None,
            "match_id": None,
            "rating": None,
            "occurred_at": now.isoformat(),
        },
    )


async def _record(database: Database, *events: Event) -> None:
    for event in events:
        async with database.unit_of_work() as uow:
            await on_interaction_recorded(uow, event)
            await uow.commit()


async def test_blocks_and_passes_keep_pairs_apart_in_version_order(
    matcher_db: Database, matcher_db_url: str
) -> None:
    later = datetime.now(UTC) + timedelta(days=1)
    a, b = _queue(matcher_db_url), _queue(matcher_db_url)
    block = _interaction(a, b, "BLOCK", 1, blocked=True)
    unblock = _interaction(a, b, "UNBLOCK", 2)
    # The unblock first, then the older block late (and again): the unblock stands.
    await _record(matcher_db, unblock, block, block)
    assert _rows(
        matcher_db_url,
        "SELECT reason, until <= now(), version FROM pair_exclusions WHERE reason = 'BLOCK'",
    ) == [("BLOCK", True, 2)]
    # A pass keeps them apart for its window; the matcher leaves them in the queue.
    await _record(matcher_db, _interaction(b, a, "PASS", 1, pass_until=later))
    report = await matchmaking.tick(matcher_db, POLICY)
    assert report.matches == 0 and report.queued == 2
    # A like after the pass ends it (the latest reaction wins): now they meet.
    await _record(matcher_db, _interaction(b, a, "LIKE", 2))
    report = await matchmaking.tick(matcher_db, POLICY)
    assert report.matches == 1


async def test_two_matchers_at_once_never_match_a_person_twice(
    matcher_db_url: str, matcher_db: Database
) -> None:
    rng = random.Random(7)
    for _ in range(400):
        _queue(
            matcher_db_url,
            gender=rng.choice(["WOMAN", "MAN"]),
            at=(PARIS[0] + rng.uniform(-0.1, 0.1), PARIS[1] + rng.uniform(-0.1, 0.1)),
        )
    replica = Database(matcher_db_url, pool_size=4)
    try:
        reports = await asyncio.gather(
            *(matchmaking.tick(db, POLICY) for db in (matcher_db, replica, matcher_db, replica))
        )
    finally:
        await replica.dispose()
    assert sum(report.matches for report in reports) > 100
    participants = _rows(matcher_db_url, "SELECT user_id FROM match_participants")
    assert len(participants) == len({row[0] for row in participants}), "someone matched twice"
    in_queue = {row[0] for row in _rows(matcher_db_url, "SELECT user_id FROM queue_entries")}
    assert not in_queue & {row[0] for row in participants}
    assert len(in_queue) + len(participants) == 400


async def test_the_database_refuses_a_second_open_match_for_one_person(
    matcher_db_url: str, matcher_db: Database
) -> None:
    for _ in range(3):
        _queue(matcher_db_url, gender="NON_BINARY")
    assert (await matchmaking.tick(matcher_db, POLICY)).matches == 1
    [(taken,)] = _rows(matcher_db_url, "SELECT user_id FROM match_participants LIMIT 1")
    with (
        pytest.raises((IntegrityError, psycopg.errors.UniqueViolation)),
        psycopg.connect(matcher_db_url) as conn,
    ):
        conn.execute(
            "INSERT INTO match_participants VALUES (%s, %s, true, now(), now())",
            (uuid.uuid4(), taken),
        )
