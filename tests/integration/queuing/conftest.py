"""A queuing database of its own (migrated by the real migrations) for matcher tests.

Not the session's `queuing_db`: the running subgraphs' matchers would match these people.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from kindred.db import Database
from kindred.devstack.postgres import create_databases, database_url
from kindred.migrations import upgrade

MIGRATIONS = Path(__file__).resolve().parents[3] / "subgraphs" / "queuing" / "migrations"


@pytest.fixture(scope="module")
def matcher_db_url(infra: Any) -> Iterator[str]:
    name = f"queuing_test_{uuid.uuid4().hex[:8]}"
    create_databases(infra.postgres_url, [name])
    url = database_url(infra.postgres_url, name)
    upgrade(url, MIGRATIONS)
    yield url
    with psycopg.connect(database_url(infra.postgres_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
async def matcher_db(matcher_db_url: str) -> AsyncIterator[Database]:
    with psycopg.connect(matcher_db_url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE queue_entries, profile_copies, matches, match_participants, "
            "pair_exclusions, suspensions, outbox"
        )
    database = Database(matcher_db_url, pool_size=4)
    yield database
    await database.dispose()
