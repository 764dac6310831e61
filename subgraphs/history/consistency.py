"""What the history timeline keeps of others that an owner still knows: each member's latest
plan change (subscription) and latest standing (moderation). See `kindred.consistency` for
the shape.

The timeline is made of events, and most of them (a match, a like) have no owner row that
says "this happened" once it is over, so the check compares what does have one: the newest
`SUBSCRIPTION_CHANGED` and `SUSPENDED`/`BANNED`/`REINSTATED` entry of each member against
the owner's current version. `--repair` re-publishes the owner's current state, which the
timeline records as the entry it missed (and, being keyed by the fact, never twice).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from kindred.consistency import Drift, ReadModel, Side, extra, missing, stale
from subgraphs.history.models import HistoryEntry
from subgraphs.history.service import Kind

STANDING_KINDS = (Kind.SUSPENDED, Kind.BANNED, Kind.REINSTATED)


def _latest(kinds: tuple[Kind, ...], prefix: str) -> Side:
    """Each member's newest version among the entries of `kinds`, read off their subject
    (`<prefix><version>`, as the handlers write it)."""
    version = sa.cast(sa.func.substr(col(HistoryEntry.subject), len(prefix) + 1), sa.Integer)
    member = col(HistoryEntry.member_id)
    return Side(
        query=sa.select(member, sa.func.max(version).label("version"))
        .where(col(HistoryEntry.kind).in_([kind.value for kind in kinds]))
        .group_by(member),
        key=(member,),
        member=lambda user_id: member == user_id,
    )


def compare_latest(owner: Any, copy: Any, now: datetime) -> Drift | None:
    """The member's newest entry is at the owner's version (the timeline may lag no
    change); an entry of a member the owner does not know is extra."""
    if owner is None:
        return extra("the owner has no such member") if copy is not None else None
    if copy is None:
        return missing(f"no entry for version {owner.version}")
    if copy.version < owner.version:
        return stale(f"newest entry at version {copy.version}, owner at {owner.version}")
    return None


READ_MODELS = [
    ReadModel(
        name="subscription_timeline",
        source=("subscription", "subscriptions"),
        side=_latest((Kind.SUBSCRIPTION_CHANGED,), "v"),
        compare=compare_latest,
        description="each member's newest plan change in their timeline (subscription.changed)",
    ),
    ReadModel(
        name="standing_timeline",
        source=("moderation", "standings"),
        side=_latest(STANDING_KINDS, "standing@"),
        compare=compare_latest,
        description="each member's newest standing in their timeline (user.suspended, "
        "user.reinstated)",
    ),
]
