"""Alembic migrations per subgraph: each subgraph keeps its own `migrations/` folder."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool, text

from kindred.db import driver_url

log = logging.getLogger(__name__)

# One advisory lock id for every subgraph: replicas starting together migrate one at a time.
_MIGRATION_LOCK = 7_243_019
# Alembic keeps the running migration in module-wide proxies (`alembic.context`, `op`):
# subgraphs sharing a process (`make dev`) migrate one at a time within it too.
_IN_PROCESS = threading.Lock()


def alembic_config(database_url: str, migrations_dir: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", driver_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, migrations_dir: Path, revision: str = "head") -> None:
    """Brings the database up to `revision`; safe to run from several processes at once."""
    with _IN_PROCESS:
        command.upgrade(alembic_config(database_url, migrations_dir), revision)


def is_current(database_url: str, migrations_dir: Path) -> bool:
    """Whether the database is at the newest revision of `migrations_dir` (no DDL run)."""
    heads = set(
        ScriptDirectory.from_config(alembic_config(database_url, migrations_dir)).get_heads()
    )
    engine = create_engine(driver_url(database_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()
    return current == heads


def run_env() -> None:
    """The body of every subgraph's `migrations/env.py` (online mode only)."""
    url = context.config.get_main_option("sqlalchemy.url")
    engine = create_engine(str(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _MIGRATION_LOCK})
        connection.commit()
        try:
            context.configure(connection=connection, target_metadata=None)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _MIGRATION_LOCK})
            connection.commit()
    engine.dispose()
