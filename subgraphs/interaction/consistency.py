"""What interaction owns that others copy (each member's relation to another: blocks), and
what it keeps of others (entitlements): see `kindred.consistency` for the shape."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from kindred.consistency import (
    BlockState,
    Key,
    ReadModel,
    Side,
    Source,
    entitlements_copy,
    republished,
)
from kindred.db import UnitOfWork
from subgraphs.interaction import events
from subgraphs.interaction.models import Relation


async def republish_relations(uow: UnitOfWork, keys: Sequence[Key]) -> list[Key]:
    """Each relation at its version, as a BLOCK or an UNBLOCK (what the copies keep of it;
    the timeline ignores a re-published relation, which is a state, not a reaction)."""
    relations = (
        await uow.session.exec(
            select(Relation)
            .where(sa.tuple_(col(Relation.actor_id), col(Relation.target_id)).in_(list(keys)))
            .order_by(col(Relation.actor_id), col(Relation.target_id))
            .with_for_update()
        )
    ).all()
    for relation in relations:
        kind = "BLOCK" if relation.blocked else "UNBLOCK"
        # At the time of the relation's last change: what it says is no new activity.
        event = events.interaction_recorded(relation, kind=kind, occurred_at=relation.updated_at)
        uow.publish(republished(event))
    return [(relation.actor_id, relation.target_id) for relation in relations]


def relation_state(row: Any, now: datetime) -> BlockState:
    return BlockState(version=row.version, blocked=row.blocked)


SOURCES = [
    Source(
        name="relations",
        side=Side(
            query=sa.select(
                col(Relation.actor_id),
                col(Relation.target_id),
                col(Relation.blocked),
                col(Relation.version),
            ).where(col(Relation.version) > 0),
            key=(col(Relation.actor_id), col(Relation.target_id)),
            member=lambda user_id: sa.or_(
                col(Relation.actor_id) == user_id, col(Relation.target_id) == user_id
            ),
        ),
        republish=republish_relations,
        state=relation_state,
    )
]

READ_MODELS: list[ReadModel] = [entitlements_copy()]
