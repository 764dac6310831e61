"""What moderation owns that others copy (each member's standing: suspensions and bans),
and what it keeps of others (who is a member): see `kindred.consistency` for the shape."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from kindred.consistency import (
    Drift,
    Key,
    ReadModel,
    Side,
    Source,
    SuspensionState,
    extra,
    missing,
    republished,
    stale,
)
from kindred.db import UnitOfWork
from subgraphs.moderation import events
from subgraphs.moderation.cases import StandingStatus
from subgraphs.moderation.models import Member, Standing


async def republish_standings(uow: UnitOfWork, keys: Sequence[Key]) -> list[Key]:
    """Each standing at its version: `user.suspended` while restricted, else `user.reinstated`."""
    standings = (
        await uow.session.exec(
            select(Standing)
            .where(col(Standing.user_id).in_([key[0] for key in keys]))
            .order_by(col(Standing.user_id))
            .with_for_update()
        )
    ).all()
    for standing in standings:
        restricted = standing.status != StandingStatus.ACTIVE
        event = events.user_suspended(standing) if restricted else events.user_reinstated(standing)
        uow.publish(republished(event))
    return [(standing.user_id,) for standing in standings]


def standing_state(row: Any, now: datetime) -> SuspensionState:
    held = row.status != StandingStatus.ACTIVE and (row.until is None or row.until > now)
    return SuspensionState(version=row.version, suspended=held, until=row.until if held else None)


def compare_members(owner: Any, copy: Any, now: datetime) -> Drift | None:
    """`members` (user_id, version, deleted) against the user subgraph's accounts."""
    if owner is None:
        return extra("no such account") if copy is not None else None
    deleted = owner.deleted_at is not None
    if copy is None:
        return missing(f"account at version {owner.version}, deleted={deleted}")
    if copy.version != owner.version or copy.deleted != deleted:
        return stale(
            f"copy at version {copy.version} (deleted={copy.deleted}), "
            f"account at {owner.version} (deleted={deleted})"
        )
    return None


SOURCES = [
    Source(
        name="standings",
        side=Side(
            query=sa.select(
                col(Standing.user_id),
                col(Standing.status),
                col(Standing.until),
                col(Standing.version),
            ).where(col(Standing.version) > 0),
            key=(col(Standing.user_id),),
            member=lambda user_id: col(Standing.user_id) == user_id,
        ),
        republish=republish_standings,
        state=standing_state,
    )
]

READ_MODELS = [
    ReadModel(
        name="members",
        source=("user", "profiles"),
        side=Side(
            query=sa.select(col(Member.user_id), col(Member.version), col(Member.deleted)),
            key=(col(Member.user_id),),
            member=lambda user_id: col(Member.user_id) == user_id,
        ),
        compare=compare_members,
        description="who is a member (user.profile.updated, user.deleted)",
    )
]
