"""A tiny read model that the platform tests' handlers keep, ordered by version.

Shared by the in-process tests and the consumer subprocess of the crash test.
"""

from __future__ import annotations

from sqlalchemy import text

from kindred.db import UnitOfWork
from kindred.events import Event

READ_MODEL_DDL = [
    # One copy per aggregate, at the newest version seen.
    "CREATE TABLE copies (id text PRIMARY KEY, version int NOT NULL, value text NOT NULL)",
    # One row per handler run that committed: shows how often an event was really applied.
    "CREATE TABLE applied (event_id uuid NOT NULL, aggregate_id text NOT NULL,"
    " version int NOT NULL)",
]


async def apply_if_newer(uow: UnitOfWork, event: Event) -> None:
    """Stores the event's value unless the copy is already at this version or newer."""
    await (await uow.session.connection()).execute(
        text(
            "INSERT INTO copies (id, version, value) VALUES (:id, :version, :value) "
            "ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, value = EXCLUDED.value "
            "WHERE copies.version < EXCLUDED.version"
        ),
        {
            "id": event.aggregate_id,
            "version": event.aggregate_version,
            "value": str(event.payload["value"]),
        },
    )
    await (await uow.session.connection()).execute(
        text("INSERT INTO applied (event_id, aggregate_id, version) VALUES (:e, :a, :v)"),
        {"e": event.event_id, "a": event.aggregate_id, "v": event.aggregate_version},
    )
