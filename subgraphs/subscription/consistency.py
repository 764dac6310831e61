"""What the subscription subgraph owns that others copy (what each member's plan grants):
see `kindred.consistency` for the shape."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from kindred.consistency import EntitlementState, Key, Side, Source, republished
from kindred.db import UnitOfWork
from subgraphs.subscription import events, service
from subgraphs.subscription.models import MemberSubscription


async def republish_subscriptions(uow: UnitOfWork, keys: Sequence[Key]) -> list[Key]:
    """Each member's `subscription.changed` at the row's version, as it stands now."""
    rows = (
        await uow.session.exec(
            select(MemberSubscription)
            .where(col(MemberSubscription.user_id).in_([key[0] for key in keys]))
            .order_by(col(MemberSubscription.user_id))
            .with_for_update()
        )
    ).all()
    now = datetime.now(UTC)
    for row in rows:
        standing = service.standing_of(row, now=now)
        uow.publish(republished(events.subscription_changed(row, standing, provider_event_id=None)))
    return [(row.user_id,) for row in rows]


def subscription_state(row: Any, now: datetime) -> EntitlementState:
    standing = service.standing_of(row, now=now)
    return EntitlementState(
        version=row.version, names=frozenset(standing.entitlements), until=standing.entitled_until
    )


SOURCES = [
    Source(
        name="subscriptions",
        side=Side(
            query=sa.select(
                col(MemberSubscription.user_id),
                col(MemberSubscription.version),
                col(MemberSubscription.plan),
                col(MemberSubscription.status),
                col(MemberSubscription.current_period_end),
                col(MemberSubscription.refunded_period_end),
            ).where(col(MemberSubscription.version) > 0),
            key=(col(MemberSubscription.user_id),),
            member=lambda user_id: col(MemberSubscription.user_id) == user_id,
        ),
        republish=republish_subscriptions,
        state=subscription_state,
    )
]
