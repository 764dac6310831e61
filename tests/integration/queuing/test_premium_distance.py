"""The matcher's distance limit: capped at the free limit unless WIDER_DISTANCE is in force
for the member (the `entitlements` read model), which then uses their own maximum."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from kindred.db import Database
from kindred.events import Event
from kindred.member_state import Entitlement
from kindred.topics import Topic
from subgraphs.queuing import handlers, matchmaking
from tests.integration.queuing.test_matcher_tick import PARIS, POLICY, _queue, _rows

BRUSSELS = (50.8503, 4.3517)  # about 264 km from Paris
FREE_CAP_KM = 100


def _pair(url: str) -> tuple[uuid.UUID, uuid.UUID]:
    """Two members who fit each other, 264 km apart, each willing to travel 500 km."""
    a = _queue(url, gender="WOMAN", seeks=("MAN",), at=PARIS, max_distance_km=500)
    b = _queue(url, gender="MAN", seeks=("WOMAN",), at=BRUSSELS, max_distance_km=500)
    return a, b


async def _entitle(db: Database, user_id: uuid.UUID, until: datetime, version: int = 1) -> None:
    """Delivers a `subscription.changed` to the queuing handler, as its consumer would."""
    event = Event(
        topic=Topic.SUBSCRIPTION_CHANGED,
        aggregate_id=str(user_id),
        aggregate_version=version,
        payload={
            "user_id": str(user_id),
            "plan": "PREMIUM",
            "status": "ACTIVE",
            "entitlements": [Entitlement.SEE_WHO_LIKED_YOU, Entitlement.WIDER_DISTANCE],
            "entitled_until": until.isoformat(),
            "provider_event_id": f"evt_{uuid.uuid4().hex}",
        },
    )
    async with db.unit_of_work() as uow:
        await handlers.HANDLERS[Topic.SUBSCRIPTION_CHANGED](uow, event)
        await uow.commit()


async def test_free_members_match_only_within_the_free_cap(
    matcher_db: Database, matcher_db_url: str
) -> None:
    _pair(matcher_db_url)
    report = await matchmaking.tick(matcher_db, POLICY, free_max_distance_km=FREE_CAP_KM)
    assert report.queued == 2 and report.matches == 0
    # The same two fit each other once the cap is out of the way.
    report = await matchmaking.tick(matcher_db, POLICY, free_max_distance_km=1000)
    assert report.matches == 1


async def test_wider_distance_in_force_for_both_uses_their_own_maximum(
    matcher_db: Database, matcher_db_url: str
) -> None:
    a, b = _pair(matcher_db_url)
    later = datetime.now(UTC) + timedelta(days=30)
    await _entitle(matcher_db, a, later)
    # One premium member still meets the other's free cap: the smaller limit counts.
    report = await matchmaking.tick(matcher_db, POLICY, free_max_distance_km=FREE_CAP_KM)
    assert report.matches == 0
    await _entitle(matcher_db, b, later)
    report = await matchmaking.tick(matcher_db, POLICY, free_max_distance_km=FREE_CAP_KM)
    assert report.matches == 1
    [(user_ids,)] = _rows(matcher_db_url, "SELECT user_ids FROM matches")
    assert set(user_ids) == {a, b}


async def test_entitlements_past_their_end_no_longer_widen_anything(
    matcher_db: Database, matcher_db_url: str
) -> None:
    a, b = _pair(matcher_db_url)
    for member in (a, b):
        await _entitle(matcher_db, member, datetime.now(UTC) + timedelta(days=30), version=2)
    # The period ended (no event, no job): the read model's `until` has passed.
    with psycopg.connect(matcher_db_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE entitlements SET until = now() - interval '1 second' WHERE user_id = %s", (b,)
        )
    report = await matchmaking.tick(matcher_db, POLICY, free_max_distance_km=FREE_CAP_KM)
    assert report.matches == 0
    # An older event delivered late changes nothing; a newer one applies.
    await _entitle(matcher_db, b, datetime.now(UTC) + timedelta(days=30), version=1)
    assert (
        await matchmaking.tick(matcher_db, POLICY, free_max_distance_km=FREE_CAP_KM)
    ).matches == 0
    await _entitle(matcher_db, b, datetime.now(UTC) + timedelta(days=30), version=3)
    assert (
        await matchmaking.tick(matcher_db, POLICY, free_max_distance_km=FREE_CAP_KM)
    ).matches == 1


async def test_members_within_the_free_cap_match_without_any_plan(
    matcher_db: Database, matcher_db_url: str
) -> None:
    _queue(matcher_db_url, gender="WOMAN", seeks=("MAN",), at=PARIS, max_distance_km=500)
    _queue(matcher_db_url, gender="MAN", seeks=("WOMAN",), at=(48.9, 2.4), max_distance_km=500)
    report = await matchmaking.tick(matcher_db, POLICY, free_max_distance_km=FREE_CAP_KM)
    assert report.matches == 1
