"""Read models checked against their owners, and re-published where they drifted.

A read model is a subgraph's copy of another subgraph's data, kept from the owner's events
(queuing's profile copies, notification's push tokens, the blocks, suspensions and
entitlements of `kindred.member_state`, …). Events can be lost (a broker that keeps them in
memory only and restarts, a topic deleted by hand, a dead letter nobody re-drove), so
`kindred check` compares every copy with its owner, and `kindred check --repair`
re-publishes the owner's current state through the owner's transactional outbox: a new
event id, the owner's current aggregate version and `"republished": true` in the payload.
The consumers converge by their normal path; their version rule takes an event at the
stored version when it says something else than the copy (and ignores it otherwise), so a
re-publish is as idempotent as any other event.

The shape a subgraph declares, in `subgraphs/<name>/consistency.py` (the command finds the
module for every subgraph listed in supergraph.yaml):

- an owner lists `SOURCES: list[Source]`: for each aggregate others copy, its `Side`
  (a `select` of the owner's rows, the key columns first, and how to narrow it to one
  member) and `republish(uow, keys)`, which locks the rows of those keys, publishes their
  current state with `uow.publish(republished(event))` and returns the keys it published
  (a key the owner has no row for cannot be re-published);
- a keeper lists `READ_MODELS: list[ReadModel]`: its name, the `(owner subgraph, source
  name)` it copies, the `Side` of its copy (the same key, in the same order) and
  `compare(owner_row, copy_row, now)`, which answers None when the copy is right and a
  `Drift` (missing, stale or extra, with a detail) when it is not.

Both sides are read in batches by keyset pagination over the key (`WHERE (key) > (last)
ORDER BY key LIMIT n`, text keys in the "C" collation so PostgreSQL's order is Python's):
each batch takes the next n rows of both sides and checks the n smallest keys of the two,
so a copy's extra rows are found in the same pass and nothing is ever loaded whole.
"""

from __future__ import annotations

import dataclasses
import importlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Row

from kindred.db import Database, UnitOfWork
from kindred.events import Event

Key = tuple[Any, ...]
# Marks an event `kindred check --repair` published: consumers that count events (a
# timeline, aggregates) should not count it as something that happened again.
REPUBLISHED = "republished"


class DriftKind(StrEnum):
    """How a copy differs from its owner."""

    MISSING = "missing"  # the owner has it, the copy does not
    STALE = "stale"  # both have it, the copy says something else (or is at an older version)
    EXTRA = "extra"  # the copy has it, the owner does not (or no longer)


@dataclass(frozen=True)
class Drift:
    kind: DriftKind
    detail: str = ""


def missing(detail: str = "") -> Drift:
    return Drift(DriftKind.MISSING, detail)


def stale(detail: str = "") -> Drift:
    return Drift(DriftKind.STALE, detail)


def extra(detail: str = "") -> Drift:
    return Drift(DriftKind.EXTRA, detail)


@dataclass(frozen=True)
class Side:
    """One side's rows: `query` selects the key columns first, then what `compare` reads;
    `member(user_id)` narrows it to one member (for `--user`). Made by `side`."""

    query: Any
    key: tuple[Any, ...]
    member: Callable[[uuid.UUID], Any]


def side(
    *columns: Any, keys: int = 1, member: Callable[[uuid.UUID], Any], where: Any = None
) -> Side:
    """The rows of `columns` (the first `keys` of them are the key), filtered by `where`."""
    query = sa.select(*columns)
    if where is not None:
        query = query.where(where)
    return Side(query, tuple(columns[:keys]), member)


Republish = Callable[[UnitOfWork, Sequence[Key]], Awaitable[list[Key]]]
Compare = Callable[[Any, Any, datetime], Drift | None]


def _as_is(row: Any, now: datetime) -> Any:
    return row


@dataclass(frozen=True)
class Source:
    """An aggregate an owner subgraph publishes and others copy. `state(row, now)` turns an
    owner's row into what its keepers compare with (the row itself by default)."""

    name: str
    side: Side
    republish: Republish
    state: Callable[[Any, datetime], Any] = _as_is
    subgraph: str = ""  # filled in by discovery


@dataclass(frozen=True)
class ReadModel:
    """A keeper subgraph's copy of an owner's source."""

    name: str
    source: tuple[str, str]  # (owner subgraph, source name)
    side: Side
    compare: Compare
    description: str
    subgraph: str = ""  # filled in by discovery

    @property
    def label(self) -> str:
        return f"{self.subgraph}.{self.name}"


def republished(event: Event) -> Event:
    """`event` marked as a re-publish of the owner's current state."""
    return dataclasses.replace(event, payload={**event.payload, REPUBLISHED: True})


def now() -> datetime:
    return datetime.now(UTC)


# -- discovery --------------------------------------------------------------------------


@dataclass(frozen=True)
class Catalogue:
    sources: dict[tuple[str, str], Source]
    read_models: list[ReadModel]


def discover(subgraphs: Iterable[str]) -> Catalogue:
    """The sources and read models the `subgraphs.<name>.consistency` modules declare."""
    sources: dict[tuple[str, str], Source] = {}
    models: list[ReadModel] = []
    for name in subgraphs:
        try:
            module = importlib.import_module(f"subgraphs.{name}.consistency")
        except ModuleNotFoundError as error:
            if error.name != f"subgraphs.{name}.consistency":
                raise
            continue
        for source in getattr(module, "SOURCES", ()):
            sources[name, source.name] = dataclasses.replace(source, subgraph=name)
        models += [
            dataclasses.replace(m, subgraph=name) for m in getattr(module, "READ_MODELS", ())
        ]
    for model in models:
        if model.source not in sources:
            owner, source = model.source
            raise LookupError(f"{model.label} copies {owner}'s {source!r}, which nobody declares")
    return Catalogue(sources, models)


def subgraphs_of(supergraph_yaml: Path) -> list[str]:
    from kindred.devstack.supergraph import subgraph_ports

    return list(subgraph_ports(supergraph_yaml))


# -- reading ----------------------------------------------------------------------------


def _ordered(column: Any) -> Any:
    return column.collate("C") if isinstance(column.type, sa.String) else column


async def rows_after(
    db: Database, side: Side, after: Key | None, limit: int, user: uuid.UUID | None
) -> list[Row[Any]]:
    """The next `limit` rows of `side` whose key is greater than `after`, in key order."""
    keys = [_ordered(column) for column in side.key]
    query = side.query.order_by(*keys).limit(limit)
    if after is not None:
        bound = [
            sa.literal(value, column.type) for value, column in zip(after, side.key, strict=True)
        ]
        query = query.where(sa.tuple_(*keys) > sa.tuple_(*(_ordered(b) for b in bound)))
    if user is not None:
        query = query.where(side.member(user))
    async with db.read() as connection:
        return list((await connection.execute(query)).all())


async def count(db: Database, side: Side, user: uuid.UUID | None) -> int:
    query = side.query if user is None else side.query.where(side.member(user))
    async with db.read() as connection:
        counted = await connection.execute(sa.select(sa.func.count()).select_from(query.subquery()))
        return int(counted.scalar_one())


@dataclass
class Batch:
    """One batch's drift of one read model, by key."""

    checked: int
    drift: list[tuple[Key, Drift]]


async def batches(
    model: ReadModel,
    source: Source,
    owner_db: Database,
    copy_db: Database,
    *,
    size: int,
    user: uuid.UUID | None = None,
) -> AsyncIterator[Batch]:
    """Walks both sides in key order, `size` keys at a time, and yields each batch's drift."""
    width = len(model.side.key)
    after: Key | None = None
    while True:
        owners = await rows_after(owner_db, source.side, after, size, user)
        copies = await rows_after(copy_db, model.side, after, size, user)
        if not owners and not copies:
            return
        by_owner = {tuple(row[:width]): row for row in owners}
        by_copy = {tuple(row[:width]): row for row in copies}
        keys = sorted(by_owner.keys() | by_copy.keys())[:size]
        moment = now()
        drift = []
        for key in keys:
            owner = by_owner.get(key)
            state = None if owner is None else source.state(owner, moment)
            found = model.compare(state, by_copy.get(key), moment)
            if found is not None:
                drift.append((key, found))
        yield Batch(len(keys), drift)
        after = keys[-1]


async def republish(db: Database, source: Source, keys: Sequence[Key]) -> list[Key]:
    """Re-publishes the owner's current state of `keys` through its outbox, in one
    transaction; returns the keys it published."""
    async with db.unit_of_work() as uow:
        published = await source.republish(uow, keys)
        await uow.commit()
    return published


# -- the profile copy matching keeps ------------------------------------------------------

MATCHING_PROFILE_FIELDS = (
    "birthdate",
    "gender",
    "latitude",
    "longitude",
    "interests",
    "languages",
    "min_age",
    "max_age",
    "genders_sought",
    "max_distance_km",
)
"""The profile fields (of `user.profile.updated`) queuing copies for matching: the user
subgraph's `profiles` source reads them, queuing's `profiles` read model compares them."""


# -- the member_state read models (blocks, suspensions, entitlements) -------------------
# Their owners' `state` gives these shapes; every keeper compares its member_state table
# with them the same way.


@dataclass(frozen=True)
class BlockState:
    """interaction's relation of actor to target: its version and whether it blocks."""

    version: int
    blocked: bool


@dataclass(frozen=True)
class SuspensionState:
    """moderation's standing: its version, whether it holds now, and until when (None while
    it holds: banned)."""

    version: int
    suspended: bool
    until: datetime | None


@dataclass(frozen=True)
class EntitlementState:
    """subscription's row: its version, the entitlements in force now, and until when."""

    version: int
    names: frozenset[str]
    until: datetime | None


def _in_force(until: datetime | None, now: datetime) -> bool:
    return until is None or until > now


def _versions(owner: Any, copy: Any) -> str:
    return f"copy at version {copy.version}, owner at {owner.version}"


def compare_blocks(owner: BlockState | None, copy: Any, now: datetime) -> Drift | None:
    """`blocks` (user_id, blocked_user_id, active, version): every relation change is copied."""
    if owner is None:
        return extra("no such relation") if copy is not None else None
    if copy is None:
        return missing(f"owner at version {owner.version}, blocked={owner.blocked}")
    if copy.version != owner.version or copy.active != owner.blocked:
        return stale(f"{_versions(owner, copy)}; blocked {copy.active} vs {owner.blocked}")
    return None


def compare_suspensions(owner: SuspensionState | None, copy: Any, now: datetime) -> Drift | None:
    """`suspensions` (user_id, until, version): in force the same way, at the same version."""
    held = copy is not None and _in_force(copy.until, now)
    if owner is None:
        return extra("no standing at the owner") if held else None
    if copy is None:
        return missing(f"owner at version {owner.version}, suspended={owner.suspended}")
    if copy.version != owner.version or held != owner.suspended:
        return stale(f"{_versions(owner, copy)}; suspended {held} vs {owner.suspended}")
    if held and copy.until != owner.until:
        return stale(f"until {copy.until} vs {owner.until}")
    return None


def compare_entitlements(owner: EntitlementState | None, copy: Any, now: datetime) -> Drift | None:
    """`entitlements` (user_id, names, until, version): the same ones in force, same end."""
    names = (
        frozenset(copy.names) if copy is not None and _in_force(copy.until, now) else frozenset()
    )
    if owner is None:
        return extra("no subscription at the owner") if names else None
    if copy is None:
        return missing(f"owner at version {owner.version}, {sorted(owner.names)}")
    if copy.version != owner.version or names != owner.names:
        return stale(f"{_versions(owner, copy)}; {sorted(names)} vs {sorted(owner.names)}")
    if names and copy.until != owner.until:
        return stale(f"until {copy.until} vs {owner.until}")
    return None


def _member_side(table: sa.Table, key: tuple[str, ...], *columns: str) -> Side:
    key_columns = [table.c[name] for name in key]
    return side(
        *key_columns,
        *(table.c[name] for name in columns),
        keys=len(key),
        member=lambda user_id: sa.or_(*(column == user_id for column in key_columns)),
    )


def blocks_copy() -> ReadModel:
    """The `blocks` table of `kindred.member_state`, copied from interaction's relations."""
    from kindred.member_state import blocks

    return ReadModel(
        name="blocks",
        source=("interaction", "relations"),
        side=_member_side(blocks, ("user_id", "blocked_user_id"), "active", "version"),
        compare=compare_blocks,
        description="who blocks whom (interaction.recorded)",
    )


def suspensions_copy() -> ReadModel:
    """The `suspensions` table of `kindred.member_state`, copied from moderation's standings."""
    from kindred.member_state import suspensions

    return ReadModel(
        name="suspensions",
        source=("moderation", "standings"),
        side=_member_side(suspensions, ("user_id",), "until", "version"),
        compare=compare_suspensions,
        description="suspensions and bans (user.suspended, user.reinstated)",
    )


def entitlements_copy() -> ReadModel:
    """The `entitlements` table of `kindred.member_state`, copied from subscription's rows."""
    from kindred.member_state import entitlements

    return ReadModel(
        name="entitlements",
        source=("subscription", "subscriptions"),
        side=_member_side(entitlements, ("user_id",), "names", "until", "version"),
        compare=compare_entitlements,
        description="what each member's plan grants (subscription.changed)",
    )
