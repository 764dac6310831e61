"""`kindred check`: every read model against its owner, on scratch databases of every
subgraph (migrated by the real migrations), fed by the owners' events through the keepers'
own handlers; drift planted by hand is found, `--repair` re-publishes through the owners'
outboxes, and once the keepers apply those events a second check finds none."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

import psycopg
import pytest

from kindred import consistency, credentials
from kindred.cli import main
from kindred.cli.check import Report, check, subgraph_names
from kindred.db import Database
from kindred.events import Event
from kindred.kafka import handle_once
from kindred.migrations import upgrade
from subgraphs.interaction import service as interaction_service
from subgraphs.moderation import events as moderation_events
from subgraphs.moderation.models import Standing
from subgraphs.subscription import events as subscription_events
from subgraphs.subscription import service as subscription_service
from subgraphs.subscription.models import MemberSubscription
from subgraphs.user import service as user_service

REPO_ROOT = Path(__file__).resolve().parents[2]
SUBGRAPHS = consistency.subgraphs_of(REPO_ROOT / "supergraph.yaml")
CATALOGUE = consistency.discover(SUBGRAPHS)


def _handlers(name: str) -> dict[str, Any]:
    module = __import__(f"subgraphs.{name}.handlers", fromlist=["HANDLERS"])
    return dict(module.HANDLERS)


class World:
    """Scratch databases of every subgraph, and delivery of the owners' outbox rows."""

    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = urls
        self.dbs = {name: Database(url, pool_size=2) for name, url in urls.items()}
        self.delivered: dict[str, int] = dict.fromkeys(urls, 0)

    async def deliver(self) -> int:
        """Applies every outbox row not delivered yet to every keeper that handles its topic,
        as their consumers do (inbox and handler in one transaction); how many applied."""
        applied = 0
        for owner, url in self.urls.items():
            with psycopg.connect(url) as connection:
                rows = connection.execute(
                    "SELECT id, value FROM outbox WHERE id > %s ORDER BY id",
                    (self.delivered[owner],),
                ).fetchall()
            for row_id, value in rows:
                event = Event.from_json(bytes(value))
                for keeper in self.urls:
                    handler = _handlers(keeper).get(event.topic)
                    if handler is None:
                        continue
                    async with self.dbs[keeper].unit_of_work() as uow:
                        if await handle_once(uow, f"{keeper}-check-test", handler, event):
                            applied += 1
                        await uow.commit()
                self.delivered[owner] = row_id
        return applied

    def sql(self, name: str, statement: str, *params: Any) -> list[Any]:
        with psycopg.connect(self.urls[name], autocommit=True) as connection:
            cursor = connection.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    async def check(self, **options: Any) -> Report:
        return await check(CATALOGUE, self.urls, **options)


@pytest.fixture(scope="module")
async def world(infra: Any) -> AsyncIterator[World]:
    suffix = uuid.uuid4().hex[:8]
    urls = {}
    with psycopg.connect(f"{infra.postgres_url.rstrip('/')}/postgres", autocommit=True) as conn:
        for name in SUBGRAPHS:
            conn.execute(f'CREATE DATABASE "check_{name}_{suffix}"')
            urls[name] = f"{infra.postgres_url.rstrip('/')}/check_{name}_{suffix}"
    for name, url in urls.items():  # alembic is not thread-safe: one at a time
        await asyncio.to_thread(upgrade, url, REPO_ROOT / "subgraphs" / name / "migrations")
    world = World(urls)
    try:
        yield world
    finally:
        for db in world.dbs.values():
            await db.dispose()


async def _seed(world: World) -> dict[str, uuid.UUID]:
    """Three members (one deleted), a device, a block, a suspension and a subscription."""
    password_hash = credentials.hash_password("correct horse battery")
    members = {}
    user = world.dbs["user"]
    for name in ("ann", "bob", "cid"):
        async with user.unit_of_work() as uow:
            with patch.object(credentials, "hash_password", lambda _: password_hash):
                account = await user_service.register(
                    uow,
                    email=f"{name}-{uuid.uuid4().hex[:6]}@example.com",
                    password="correct horse battery",
                    display_name=name.title(),
                    birthdate=date(1990, 1, 1),
                    gender="WOMAN",
                    today=datetime.now(UTC).date(),
                )
            await uow.commit()
        members[name] = account.id
    async with user.unit_of_work() as uow:
        await user_service.update_profile(
            uow,
            user_id=members["ann"],
            expected_version=1,
            changes={"interests": ["chess"]},
            today=datetime.now(UTC).date(),
        )
        await user_service.register_device(
            uow, user_id=members["ann"], token=f"tok-{uuid.uuid4().hex}", platform="IOS"
        )
        await uow.commit()
    async with user.unit_of_work() as uow:
        await user_service.delete_account(uow, user_id=members["cid"])
        await uow.commit()
    now = datetime.now(UTC)
    async with world.dbs["interaction"].unit_of_work() as uow:
        await interaction_service.react(
            uow,
            actor_id=members["ann"],
            target_id=members["bob"],
            kind=interaction_service.Kind.BLOCK,
            pass_window=timedelta(days=30),
        )
        await uow.commit()
    async with world.dbs["moderation"].unit_of_work() as uow:
        standing = Standing(
            user_id=members["bob"],
            status="SUSPENDED",
            until=now + timedelta(days=3),
            version=1,
            updated_at=now,
        )
        uow.session.add(standing)
        uow.publish(moderation_events.user_suspended(standing))
        await uow.commit()
    async with world.dbs["subscription"].unit_of_work() as uow:
        row = MemberSubscription(
            user_id=members["ann"],
            plan="PREMIUM",
            status="active",
            current_period_end=now + timedelta(days=30),
            version=1,
            created_at=now,
            updated_at=now,
        )
        uow.session.add(row)
        standing_now = subscription_service.standing_of(row, now=now)
        uow.publish(
            subscription_events.subscription_changed(row, standing_now, provider_event_id=None)
        )
        await uow.commit()
    await world.deliver()
    return members


def _counts(report: Report) -> dict[str, dict[str, int]]:
    return {
        result.model.label: {kind.value: n for kind, n in result.counts.items() if n}
        for result in report.models
        if result.drift
    }


async def test_check_finds_planted_drift_and_repair_converges(world: World) -> None:
    members = await _seed(world)
    ann, bob = str(members["ann"]), str(members["bob"])
    clean = await world.check(batch_size=2)
    assert clean.drift == 0, _counts(clean)
    assert {result.model.label for result in clean.models} >= {
        "queuing.profiles",
        "queuing.block_exclusions",
        "queuing.suspensions",
        "queuing.entitlements",
        "notification.devices",
        "communication.blocks",
        "communication.suspensions",
        "user.blocks",
        "user.suspensions",
        "interaction.entitlements",
        "moderation.members",
        "history.subscription_timeline",
        "history.standing_timeline",
    }
    assert all(result.checked for result in clean.models)

    stranger = uuid.uuid4()
    world.sql("queuing", "DELETE FROM profile_copies WHERE user_id = %s", ann)
    # The same version with other content: only a re-publish at that version repairs it.
    world.sql("queuing", "UPDATE profile_copies SET interests = '{x}' WHERE user_id = %s", bob)
    world.sql(
        "queuing",
        "INSERT INTO profile_copies (user_id, birthdate, gender, interests, languages, "
        "genders_sought, synced_version, synced_at, deleted, min_age, max_age, max_distance_km) "
        "VALUES (%s, '1990-01-01', 'MAN', '{}', '{}', '{}', 1, now(), false, 18, 99, 50)",
        stranger,
    )
    world.sql("queuing", "UPDATE pair_exclusions SET until = now() WHERE reason = 'BLOCK'")
    world.sql("queuing", "DELETE FROM suspensions")
    world.sql("communication", "UPDATE blocks SET active = false")
    world.sql("notification", "DELETE FROM devices")
    world.sql("interaction", "UPDATE entitlements SET names = '{}'")
    world.sql("moderation", "UPDATE members SET deleted = false")  # cid lives again
    world.sql("history", "DELETE FROM history_entries WHERE kind = 'SUBSCRIPTION_CHANGED'")
    world.sql("history", "DELETE FROM history_entries WHERE kind = 'SUSPENDED'")

    found = await world.check(batch_size=2)
    assert _counts(found) == {
        "queuing.profiles": {"missing": 1, "stale": 1, "extra": 1},
        "queuing.block_exclusions": {"stale": 1},
        "queuing.suspensions": {"missing": 1},
        "communication.blocks": {"stale": 1},
        "notification.devices": {"missing": 1},
        "interaction.entitlements": {"stale": 1},
        "moderation.members": {"stale": 1},
        "history.subscription_timeline": {"missing": 1},
        "history.standing_timeline": {"missing": 1},
    }
    scoped = await world.check(user=members["ann"])
    assert _counts(scoped)["queuing.profiles"] == {"missing": 1}
    assert "queuing.suspensions" not in _counts(scoped)  # bob's

    repaired = await world.check(repair=True, batch_size=2)
    assert repaired.drift == found.drift
    # One event per owner aggregate, however many copies of it drifted.
    assert dict(repaired.republished) == {
        "user": 4,  # ann and bob's profiles, cid's deletion, ann's device
        "interaction": 1,
        "moderation": 1,
        "subscription": 1,
    }
    assert repaired.unrepairable == 1  # the stranger: no account to re-publish
    republished = world.sql(
        "user",
        "SELECT count(*) FROM outbox WHERE convert_from(value, 'UTF8')::jsonb "
        "-> 'payload' ->> 'republished' = 'true'",
    )
    assert republished == [(4,)]

    assert await world.deliver() > 0
    after = await world.check()
    assert _counts(after) == {"queuing.profiles": {"extra": 1}}
    world.sql("queuing", "DELETE FROM profile_copies WHERE user_id = %s", stranger)
    assert (await world.check()).drift == 0
    again = await world.check(repair=True)
    assert again.drift == 0 and not again.republished

    # A re-publish of a copy that is already right (a new event id at the same version)
    # is applied by nobody: the version rule takes an equal version only when it differs.
    before = world.sql("queuing", "SELECT synced_at FROM profile_copies WHERE user_id = %s", ann)
    source = CATALOGUE.sources["user", "profiles"]
    assert await consistency.republish(world.dbs["user"], source, [(members["ann"],)])
    await world.deliver()
    assert (
        world.sql("queuing", "SELECT synced_at FROM profile_copies WHERE user_id = %s", ann)
        == before
    )


async def test_the_command_prints_drift_and_exits_1(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, url in world.urls.items():
        monkeypatch.setenv(f"KINDRED_{name.upper()}_DATABASE_URL", url)
    monkeypatch.setenv("KINDRED_SUPERGRAPH", str(REPO_ROOT / "supergraph.yaml"))
    assert subgraph_names() == SUBGRAPHS
    assert await asyncio.to_thread(main, ["check", "--all"]) == 0
    out = capsys.readouterr()
    assert "drift: 0 in 0 of 13 read models" in out.out
    assert "queuing.profiles [" in out.err  # the progress bar

    [(member,)] = world.sql("queuing", "SELECT user_id FROM profile_copies LIMIT 1")
    world.sql("queuing", "UPDATE profile_copies SET synced_version = 0 WHERE user_id = %s", member)
    assert await asyncio.to_thread(main, ["check", "--batch-size", "1"]) == 1
    out = capsys.readouterr()
    assert f"  stale: {member} (copy at version 0" in out.out
    assert "drift: 1 in 1 of 13 read models (0 missing, 1 stale, 0 extra)" in out.out
    assert await asyncio.to_thread(main, ["check", "--repair"]) == 1
    out = capsys.readouterr()
    assert "re-published 1 events through the owners' outboxes (user: 1)" in out.out
    assert "owner subgraph must be running" in out.out
    await world.deliver()
    assert await asyncio.to_thread(main, ["check", "--user", str(member)]) == 0
