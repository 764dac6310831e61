"""`python -m kindred.migrate --wait <subgraph>` (a Kubernetes pod's init container) returns
only once the migrate Job has brought the database to the newest revision."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from kindred.db import driver_url
from kindred.migrate import migrations_dir, wait_until_current
from kindred.migrations import is_current, upgrade


def test_wait_returns_once_the_database_is_migrated(
    infra: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = infra.postgres_url.rstrip("/")
    name = f"wait_{uuid.uuid4().hex[:8]}"
    engine = create_engine(driver_url(f"{server}/postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    url = f"{server}/{name}"
    monkeypatch.setenv("KINDRED_NOTIFICATION_DATABASE_URL", url)
    directory = migrations_dir("notification")
    assert not is_current(url, directory)

    done = threading.Event()

    def wait() -> None:
        wait_until_current("notification", poll_seconds=0.1)
        done.set()

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    time.sleep(0.5)
    assert not done.is_set(), "--wait returned before the database was migrated"
    upgrade(url, directory)
    assert done.wait(10), "--wait did not notice the migration"
    assert is_current(url, directory)
