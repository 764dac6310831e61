"""The member-state read models (blocks, suspensions, entitlements) against PostgreSQL:
each applies its owner's events in version order, and time ends what has an end."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import create_engine, pool

from kindred import member_state
from kindred.db import Database, driver_url
from kindred.events import Event
from kindred.kafka import Handler
from kindred.member_state import Entitlement
from kindred.topics import Topic


@pytest.fixture(scope="module")
async def db(scratch_db_url: str) -> AsyncIterator[Database]:
    engine = create_engine(driver_url(scratch_db_url), poolclass=pool.NullPool)
    with engine.begin() as connection, Operations.context(MigrationContext.configure(connection)):
        member_state.create_member_state_tables("blocks", "suspensions", "entitlements")
    engine.dispose()
    database = Database(scratch_db_url, pool_size=2)
    yield database
    await database.dispose()


async def apply(db: Database, handler: Handler, event: Event) -> None:
    async with db.unit_of_work() as uow:
        await handler(uow, event)
        await uow.commit()


def standing(topic: Topic, user_id: uuid.UUID, version: int, **payload: Any) -> Event:
    return Event(
        topic=topic,
        aggregate_id=str(user_id),
        aggregate_version=version,
        payload={"user_id": str(user_id), **payload},
    )


def reaction(actor: uuid.UUID, target: uuid.UUID, version: int, *, blocked: bool) -> Event:
    kind = "BLOCK" if blocked else "UNBLOCK"
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
        },
    )


async def test_a_block_hides_both_ways_until_a_newer_unblock(db: Database) -> None:
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await apply(db, member_state.on_block_recorded, reaction(a, b, 1, blocked=True))
    async with db.session() as session:
        assert await member_state.blocked_between(session, a, [b, c])
        assert await member_state.blocked_between(session, b, [a])
        assert not await member_state.blocked_between(session, c, [a, b])

    await apply(db, member_state.on_block_recorded, reaction(a, b, 3, blocked=False))
    # A late, older block (version 2) changes nothing: the unblock at version 3 stands.
    await apply(db, member_state.on_block_recorded, reaction(a, b, 2, blocked=True))
    async with db.session() as session:
        assert not await member_state.blocked_between(session, a, [b])
        assert not await member_state.blocked_between(session, b, [a])


async def test_a_suspension_ends_by_itself_and_a_ban_until_reinstated(db: Database) -> None:
    member = uuid.uuid4()
    soon = datetime.now(UTC) + timedelta(hours=1)
    await apply(
        db,
        member_state.on_user_suspended,
        standing(Topic.USER_SUSPENDED, member, 1, until=soon.isoformat(), reason="spam"),
    )
    async with db.session() as session:
        assert await member_state.suspension_of(session, member) == (True, soon)
        later = soon + timedelta(seconds=1)
        assert not await member_state.is_suspended(session, member, now=later)

    await apply(
        db, member_state.on_user_suspended, standing(Topic.USER_SUSPENDED, member, 2, until=None)
    )
    async with db.session() as session:
        far = datetime.now(UTC) + timedelta(days=3650)
        assert await member_state.is_suspended(session, member, now=far)

    await apply(db, member_state.on_user_reinstated, standing(Topic.USER_REINSTATED, member, 3))
    # The ban (version 2) delivered again after the reinstatement changes nothing.
    await apply(
        db, member_state.on_user_suspended, standing(Topic.USER_SUSPENDED, member, 2, until=None)
    )
    async with db.session() as session:
        assert not await member_state.is_suspended(session, member)


async def test_entitlements_hold_until_their_end_and_newer_news_wins(db: Database) -> None:
    member = uuid.uuid4()
    end = datetime.now(UTC) + timedelta(days=30)
    premium = [Entitlement.WIDER_DISTANCE, Entitlement.SEE_WHO_LIKED_YOU]
    await apply(
        db,
        member_state.on_subscription_changed,
        standing(
            Topic.SUBSCRIPTION_CHANGED,
            member,
            2,
            entitlements=premium,
            entitled_until=end.isoformat(),
        ),
    )
    # An older change (version 1, free) arriving late is ignored.
    await apply(
        db,
        member_state.on_subscription_changed,
        standing(Topic.SUBSCRIPTION_CHANGED, member, 1, entitlements=[], entitled_until=None),
    )
    async with db.session() as session:
        assert await member_state.entitlements_of(session, member) == frozenset(premium)
        after = end + timedelta(seconds=1)
        assert await member_state.entitlements_of(session, member, now=after) == frozenset()
        assert await member_state.entitlements_of(session, uuid.uuid4()) == frozenset()
