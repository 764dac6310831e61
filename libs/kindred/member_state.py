"""Read models of a member's standing that several subgraphs keep: blocks, suspensions and
entitlements, each fed by its owner's events and applied in version order.

The owners: interaction (blocks, `interaction.recorded`), moderation (suspensions,
`user.suspended` / `user.reinstated`) and subscription (entitlements,
`subscription.changed`). A subgraph that needs one creates its table in a migration
(`create_member_state_tables`), maps the topic to the ready-made handler below in its
`HANDLERS`, and asks the questions below; no subgraph writes this logic again.

Time is never a job: a suspension or an entitlement holds while `until` is null or in the
future, so it ends by itself at its end time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Uuid, and_, or_
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from kindred.db import UnitOfWork
from kindred.events import Event


class Entitlement(StrEnum):
    """What a plan grants, by name (the subscription subgraph's plans list them)."""

    WIDER_DISTANCE = "WIDER_DISTANCE"
    SEE_WHO_LIKED_YOU = "SEE_WHO_LIKED_YOU"


def _blocks() -> list[Column[Any]]:
    return [
        Column("user_id", Uuid, primary_key=True),
        Column("blocked_user_id", Uuid, primary_key=True),
        Column("active", sa.Boolean, nullable=False),
        Column("version", Integer, nullable=False),
        _stamp(),
    ]


def _suspensions() -> list[Column[Any]]:
    return [
        Column("user_id", Uuid, primary_key=True),
        Column("until", DateTime(timezone=True), nullable=True),
        Column("reason", String, nullable=True),
        Column("version", Integer, nullable=False),
        _stamp(),
    ]


def _entitlements() -> list[Column[Any]]:
    return [
        Column("user_id", Uuid, primary_key=True),
        Column("names", ARRAY(String), nullable=False),
        Column("until", DateTime(timezone=True), nullable=True),
        Column("version", Integer, nullable=False),
        _stamp(),
    ]


def _stamp() -> Column[datetime]:
    return Column(
        "updated_at", DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


# Each table's columns, made fresh for every use (a Column belongs to one table).
_SHAPES = {
    "blocks": (_blocks, "user_id blocks blocked_user_id while active: neither sees the other."),
    "suspensions": (
        _suspensions,
        "Suspended while until is null (banned) or in the future; reinstated: until passed.",
    ),
    "entitlements": (
        _entitlements,
        "What the member's plan grants, while until is null or in the future.",
    ),
}

# Plain tables on their own metadata: the same names live in several subgraphs' databases.
member_state = MetaData()
blocks, suspensions, entitlements = (
    Table(name, member_state, *columns(), comment=comment)
    for name, (columns, comment) in _SHAPES.items()
)


def create_member_state_tables(*names: str) -> None:
    """For a migration: creates the named read-model tables ("blocks", "suspensions",
    "entitlements") in the subgraph's database."""
    from alembic import op

    for name in names:
        columns, comment = _SHAPES[name]
        op.create_table(name, *columns(), comment=comment)


def _now() -> datetime:
    return datetime.now(UTC)


async def _upsert_if_newer(
    session: AsyncSession, table: Table, key: dict[str, Any], values: dict[str, Any]
) -> bool:
    """Writes the row unless the stored one is newer, or at the same version and already
    says the same (a re-publish of the owner's state at its version repairs a copy that
    differs; the same news twice changes nothing); True if written."""
    row = {**key, **values, "updated_at": _now()}
    upsert = insert(table).values(row)
    statement = upsert.on_conflict_do_update(
        index_elements=list(key),
        set_={name: row[name] for name in (*values, "updated_at")},
        where=newer_or_different(table, upsert.excluded, "version", values),
    ).returning(table.c.version)
    return (await session.exec(statement)).first() is not None


def newer_or_different(
    table: Any, excluded: Any, version: str, values: Iterable[str]
) -> sa.ColumnElement[bool]:
    """The version rule of every read model's upsert: the incoming row wins when its version
    is newer, or equal while some other value differs (the owner re-published its state,
    `kindred check --repair`); an event seen again at the same version changes nothing."""
    others = [table.c[name].is_distinct_from(excluded[name]) for name in values if name != version]
    return or_(
        table.c[version] < excluded[version],
        and_(table.c[version] == excluded[version], or_(*others)),
    )


# -- writes (the owners' events) ----------------------------------------------------------


async def record_block(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    blocked_user_id: uuid.UUID,
    active: bool,
    version: int,
) -> bool:
    """user_id blocks (or no longer blocks) blocked_user_id, as of the relation's version."""
    return await _upsert_if_newer(
        session,
        blocks,
        {"user_id": user_id, "blocked_user_id": blocked_user_id},
        {"active": active, "version": version},
    )


async def record_suspension(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    until: datetime | None,
    reason: str | None,
    version: int,
) -> bool:
    """The member's standing as of `version`: suspended until `until` (None: banned)."""
    return await _upsert_if_newer(
        session,
        suspensions,
        {"user_id": user_id},
        {"until": until, "reason": reason, "version": version},
    )


async def record_entitlements(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    names: Iterable[str],
    until: datetime | None,
    version: int,
) -> bool:
    """What the member's plan grants as of `version`, until `until` (None: no end)."""
    return await _upsert_if_newer(
        session,
        entitlements,
        {"user_id": user_id},
        {"names": sorted(set(names)), "until": until, "version": version},
    )


# -- handlers (Topic -> one of these, in a subgraph's HANDLERS) ---------------------------


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


async def on_block_recorded(uow: UnitOfWork, event: Event) -> None:
    """`interaction.recorded`: keeps the actor's block of the target; other kinds are no news
    to a blocks read model except through `blocked`, which every change carries."""
    payload = event.payload
    await record_block(
        uow.session,
        user_id=uuid.UUID(payload["actor_id"]),
        blocked_user_id=uuid.UUID(payload["target_id"]),
        active=bool(payload["blocked"]),
        version=int(payload["version"]),
    )


async def on_user_suspended(uow: UnitOfWork, event: Event) -> None:
    """`user.suspended`: suspended until `until`, or banned when it is null."""
    await record_suspension(
        uow.session,
        user_id=uuid.UUID(event.payload["user_id"]),
        until=_when(event.payload.get("until")),
        reason=event.payload.get("reason"),
        version=event.aggregate_version,
    )


async def on_user_reinstated(uow: UnitOfWork, event: Event) -> None:
    """`user.reinstated`: the suspension ends now (the row stays, to order later news)."""
    await record_suspension(
        uow.session,
        user_id=uuid.UUID(event.payload["user_id"]),
        until=event.occurred_at,
        reason=None,
        version=event.aggregate_version,
    )


async def on_subscription_changed(uow: UnitOfWork, event: Event) -> None:
    """`subscription.changed`: the entitlements in force and until when."""
    await record_entitlements(
        uow.session,
        user_id=uuid.UUID(event.payload["user_id"]),
        names=event.payload.get("entitlements") or [],
        until=_when(event.payload.get("entitled_until")),
        version=event.aggregate_version,
    )


# -- questions ----------------------------------------------------------------------------


def _in_force(until: Column[Any], now: datetime) -> Any:
    """SQL: a standing whose `until` is null or still ahead of `now`."""
    return or_(until.is_(None), until > now)


async def suspension_of(
    session: AsyncSession, user_id: uuid.UUID, *, now: datetime | None = None
) -> tuple[bool, datetime | None]:
    """(suspended now, until when; None while suspended means banned)."""
    row = (
        await session.exec(
            select(suspensions.c.user_id, suspensions.c.until).where(
                suspensions.c.user_id == user_id, _in_force(suspensions.c.until, now or _now())
            )
        )
    ).first()
    return (True, row[1]) if row is not None else (False, None)


async def is_suspended(
    session: AsyncSession, user_id: uuid.UUID, *, now: datetime | None = None
) -> bool:
    """True while the member is suspended or banned."""
    suspended, _ = await suspension_of(session, user_id, now=now)
    return suspended


async def blocked_between(
    session: AsyncSession, user_id: uuid.UUID, others: Sequence[uuid.UUID]
) -> bool:
    """True when user_id blocks any of `others`, or any of them blocks user_id."""
    if not others:
        return False
    row = (
        await session.exec(
            select(sa.literal(1)).where(
                blocks.c.active,
                or_(
                    and_(blocks.c.user_id == user_id, blocks.c.blocked_user_id.in_(others)),
                    and_(blocks.c.user_id.in_(others), blocks.c.blocked_user_id == user_id),
                ),
            )
        )
    ).first()
    return row is not None


async def entitlements_of(
    session: AsyncSession, user_id: uuid.UUID, *, now: datetime | None = None
) -> frozenset[str]:
    """The entitlements in force for the member now (none once `until` has passed)."""
    row = (
        await session.exec(
            select(entitlements.c.user_id, entitlements.c.names).where(
                entitlements.c.user_id == user_id,
                _in_force(entitlements.c.until, now or _now()),
            )
        )
    ).first()
    return frozenset(row[1]) if row is not None else frozenset()
