"""The fault test: 10,000 profile updates while the relay, the consumer and the broker are
each SIGKILLed and restarted; afterwards `kindred check --all` finds no drift, no update is
lost and none is applied twice.

Processes, all started here on free ports (the dev stack's layout is not relied on): the
embedded PostgreSQL and Redis, the broker (Tansu, in memory), the user subgraph (its
outbox relay), the queuing subgraph (the consumer of `user.profile.updated` under test)
and moderation (the other keeper of profiles, so `check --all` has every read model fed).
The updates go through the user subgraph's service layer (`service.update_profile` in a
unit of work, the same code the `updateProfile` mutation runs) from this process, in
rounds of 100 members (ten concurrent transactions of ten updates each), so they carry on
while the user process is dead. (The members are registered through the service too, with
one password hash computed up front: hashing is the slow part of a registration.)

How what the dead processes held comes back, by the system's own means only:
- the relay (user process) killed: rows committed to the outbox but not yet marked
  published stay pending, and the restarted relay publishes them (some twice: those sent
  but not marked; the consumers' inbox drops the duplicates);
- the consumer (queuing process) killed: offsets not committed are redelivered to the
  restarted consumer, and the inbox drops what was already applied;
- the broker killed (twice: in the middle of the updates, and once more right after the
  relay published the last of them, while the consumers still lag): it keeps messages,
  offsets and groups in memory only, so everything it held is gone. Rows the relay had
  not published yet stay in the outbox and go out once the broker is back (the test
  recreates the topics, as the devstack does at start). Events already published but not
  yet consumed are lost with it (so are some published after the restart: a consumer may
  resume at its old position in the new, shorter log). After the first kill, later
  updates of the same members supersede what was lost; after the second, nothing does:
  `kindred check --all` finds those copies stale, `kindred check --all --repair`
  re-publishes the members' current profiles through the user subgraph's outbox, its relay
  publishes them, the restarted consumers apply them, and a second check finds no drift.

Counted: lost = members whose final account version is not the copy's version (queuing and
moderation); double-applied = a trigger logs every write to queuing's `profile_copies`, and
no member's sequence of versions may repeat or go backwards.
"""

from __future__ import annotations

import asyncio
import operator
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path

import psycopg
import pytest

from kindred import credentials
from kindred.cli.broker import offsets_client, partitions
from kindred.cli.lag import lag_rows
from kindred.db import Database
from kindred.devstack.broker import create_topics, run_coroutine
from kindred.devstack.postgres import database_url
from kindred.devstack.process import free_port
from kindred.devstack.stack import Stack
from kindred.devstack.supergraph import subgraph_ports
from kindred.migrations import upgrade
from subgraphs.user import service
from tests.support import eventually

REPO_ROOT = Path(__file__).resolve().parents[2]
MEMBERS = 100
ROUNDS = 100  # MEMBERS x ROUNDS profile updates
BATCH = 10  # members updated per transaction; the batches of a round run concurrently
STREAMING = 300  # profile versions the consumer applies before (and after) it is killed
RUNNING = ("user", "queuing", "moderation")

APPLICATIONS = """
CREATE TABLE fault_applications (
    user_id uuid NOT NULL, old_version int, new_version int NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION log_fault_application() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO fault_applications (user_id, old_version, new_version) VALUES (
        NEW.user_id, CASE WHEN TG_OP = 'UPDATE' THEN OLD.synced_version END,
        NEW.synced_version);
    RETURN NEW;
END $$;
CREATE TRIGGER fault_applications AFTER INSERT OR UPDATE ON profile_copies
    FOR EACH ROW EXECUTE FUNCTION log_fault_application();
"""


def _say(message: str) -> None:
    print(f"[fault] {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


@pytest.fixture
def stack() -> Iterator[Stack]:
    data_dir = Path(tempfile.mkdtemp(prefix="kindred-fault-"))
    stack = Stack(
        data_dir,
        postgres_port=free_port(),
        redis_port=free_port(),
        kafka_port=free_port(),
        subgraph_ports={
            name: free_port() for name in subgraph_ports(REPO_ROOT / "supergraph.yaml")
        },
        gateway_port=free_port(),
        repo_root=REPO_ROOT,
        echo=False,
    )
    try:
        stack.start_infra()
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def _kill(stack: Stack, name: str) -> None:
    process = stack.subgraphs.pop(name)
    process.stop(grace=0, sig=signal.SIGKILL)


def _restart_broker(stack: Stack) -> None:
    broker = stack.broker
    assert broker is not None and broker._server is not None
    broker._server.stop(grace=0, sig=signal.SIGKILL)
    broker._server = None
    broker.start()
    run_coroutine(create_topics(stack.kafka_bootstrap))  # what the devstack does at start


def _kindred(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """Runs the `kindred` command against the stack, as an operator would."""
    env = {**stack.subgraph_env(), "KINDRED_SUPERGRAPH": str(REPO_ROOT / "supergraph.yaml")}
    return subprocess.run(
        [sys.executable, "-m", "kindred.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _drift(answer: subprocess.CompletedProcess[str]) -> int:
    line = next(line for line in answer.stdout.splitlines() if line.startswith("drift: "))
    return int(line.split()[1])


async def _register(db: Database, number: int) -> uuid.UUID:
    async with db.unit_of_work() as uow:
        account = await service.register(
            uow,
            email=f"fault-{number}-{uuid.uuid4().hex[:8]}@example.com",
            password="correct horse battery",
            display_name=f"Fault {number}",
            birthdate=date(1994, 3, 2),
            gender="NON_BINARY",
            today=datetime.now(UTC).date(),
        )
        await uow.commit()
        return account.id


async def _update(db: Database, batch: list[uuid.UUID], version: int, round_: int) -> None:
    """One transaction updating each member of `batch` once (one version each)."""
    async with db.unit_of_work() as uow:
        for user_id in batch:
            await service.update_profile(
                uow,
                user_id=user_id,
                expected_version=version,
                changes={"interests": [f"round-{round_}"], "max_distance_km": 10 + round_},
                today=datetime.now(UTC).date(),
            )
        await uow.commit()


GROUPS = ("queuing-subgraph", "moderation-subgraph")


def _outbox_pending(stack: Stack) -> int:
    with psycopg.connect(database_url(stack.postgres_url, "user_db")) as connection:
        row = connection.execute(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL"
        ).fetchone()
    return int(row[0]) if row else 0


PUBLISHED = "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL"
APPLIED = "SELECT count(*) FROM fault_applications"


def _count(stack: Stack, subgraph: str, query: str) -> int:
    with psycopg.connect(database_url(stack.postgres_url, f"{subgraph}_db")) as connection:
        row = connection.execute(query).fetchone()
    return int(row[0]) if row else 0


async def _lag(stack: Stack) -> int:
    """Messages of `user.profile.updated` the keepers have not committed yet, in all."""
    async with offsets_client(stack.kafka_bootstrap) as consumer:
        parts = await partitions(consumer, ["user.profile.updated"])
        ends = await consumer.end_offsets(parts)
    committed = {(row[0], row[1]): row[2] for row in await lag_rows(stack.kafka_bootstrap)}
    return sum(
        max(ends[part] - committed.get((group, part), 0), 0) for group in GROUPS for part in parts
    )


async def _settled(stack: Stack) -> bool:
    """The user subgraph's outbox is empty and both keepers have consumed every profile."""
    return _outbox_pending(stack) == 0 and await _lag(stack) == 0


async def test_profile_updates_survive_killed_relay_consumer_and_broker(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    password_hash = credentials.hash_password("correct horse battery")
    monkeypatch.setattr(credentials, "hash_password", lambda password: password_hash)
    user_url = database_url(stack.postgres_url, "user_db")
    queuing_url = database_url(stack.postgres_url, "queuing_db")
    migrations = {
        name: (
            database_url(stack.postgres_url, f"{name}_db"),
            REPO_ROOT / "subgraphs" / name / "migrations",
        )
        for name in stack.subgraph_ports
    }
    for where in migrations.values():  # alembic is not thread-safe: one at a time
        await asyncio.to_thread(upgrade, *where)
    with psycopg.connect(queuing_url, autocommit=True) as connection:
        connection.execute(APPLICATIONS)
    for name in RUNNING:
        await asyncio.to_thread(stack.start_subgraph, name, 90.0)
    _say(f"stack up in {time.monotonic() - started:.1f} s")

    db = Database(user_url, pool_size=20)
    kills: list[str] = []
    restarts: list[asyncio.Task[None]] = []
    try:
        members = await asyncio.gather(*(_register(db, n) for n in range(MEMBERS)))
        applied_before_kill = 0

        def restart(name: str) -> None:
            restarts.append(
                asyncio.create_task(asyncio.to_thread(stack.start_subgraph, name, 90.0))
            )

        updated_at = time.monotonic()
        for round_ in range(ROUNDS):
            if round_ == 20:  # the relay dies while it publishes
                await eventually(lambda: _count(stack, "user", PUBLISHED), bool, within=60)
                _kill(stack, "user")
                restart("user")
                kills.append("the relay (user subgraph)")
            if round_ == 45:  # the consumer dies while it applies, well into the stream
                await eventually(
                    lambda: _count(stack, "queuing", APPLIED),
                    partial(operator.le, STREAMING),
                    within=60,
                    what="the consumer applying",
                )
                applied_before_kill = _count(stack, "queuing", APPLIED)
                _kill(stack, "queuing")
                restart("queuing")
                kills.append("the consumer (queuing subgraph)")
            if round_ == 70:  # both are back at work when the broker dies
                await asyncio.gather(*restarts)
                await eventually(
                    lambda: _count(stack, "queuing", APPLIED),
                    partial(operator.le, applied_before_kill + STREAMING),
                    within=60,
                    what="the restarted consumer applying",
                )
                restarts.append(asyncio.create_task(asyncio.to_thread(_restart_broker, stack)))
                kills.append("the broker")
            if round_ in (20, 45, 70):
                applied = _count(stack, "queuing", APPLIED)
                _say(f"round {round_}: SIGKILL {kills[-1]} (queuing applied {applied} so far)")
            await asyncio.gather(
                *(
                    _update(db, members[start : start + BATCH], round_ + 1, round_)
                    for start in range(0, MEMBERS, BATCH)
                )
            )
        updates = MEMBERS * ROUNDS
        _say(f"{updates} updates in {time.monotonic() - updated_at:.1f} s")
        await asyncio.gather(*restarts)
    finally:
        await db.dispose()
    # Once every event is on the broker, and while the keepers still work through them,
    # the broker dies again: what they had not consumed yet is lost for good.
    await eventually(lambda: _outbox_pending(stack) == 0, bool, within=60, what="outbox drained")
    lag_at_kill = await _lag(stack)
    await asyncio.to_thread(_restart_broker, stack)
    kills.append("the broker (again)")
    applied_at_kill = _count(stack, "queuing", APPLIED)
    _say(
        f"SIGKILL the broker again with {lag_at_kill} messages not consumed yet "
        f"(queuing applied {applied_at_kill} profile versions so far)"
    )

    await eventually(lambda: _settled(stack), bool, within=90, what="outbox drained, lag 0")
    before = _kindred(stack, "check", "--all")
    drift_before = _drift(before)
    _say(f"check before repair: exit {before.returncode}, drift {drift_before}")
    repair = _kindred(stack, "check", "--all", "--repair")
    assert repair.returncode in (0, 1), repair.stderr
    _say(repair.stdout.splitlines()[-1] if repair.stdout else repair.stderr)

    async def checked() -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(_kindred, stack, "check", "--all")

    after = await eventually(checked, lambda answer: answer.returncode == 0, within=60)
    assert _drift(after) == 0, after.stdout
    _say(f"check after repair: exit {after.returncode}, drift 0")

    with psycopg.connect(user_url) as users, psycopg.connect(queuing_url) as queuing:
        final: dict[uuid.UUID, int] = dict(
            users.execute("SELECT id, version FROM accounts").fetchall()
        )
        copies: dict[uuid.UUID, int] = dict(
            queuing.execute("SELECT user_id, synced_version FROM profile_copies").fetchall()
        )
        lost = [member for member, version in final.items() if copies.get(member) != version]
        repeated = queuing.execute(
            "SELECT count(*) FROM (SELECT user_id, new_version FROM fault_applications "
            "GROUP BY 1, 2 HAVING count(*) > 1) AS twice"
        ).fetchone()
        backwards = queuing.execute(
            "SELECT count(*) FROM fault_applications WHERE new_version <= old_version"
        ).fetchone()
        applications = queuing.execute("SELECT count(*) FROM fault_applications").fetchone()
    with psycopg.connect(database_url(stack.postgres_url, "moderation_db")) as moderation:
        members_copy: dict[uuid.UUID, int] = dict(
            moderation.execute("SELECT user_id, version FROM members").fetchall()
        )
    lost += [member for member, version in final.items() if members_copy.get(member) != version]
    _say(
        f"{updates} updates, kills: {', '.join(kills)}; lag when the broker died again "
        f"{lag_at_kill}; drift before repair {drift_before}, "
        f"after 0; {applications[0] if applications else 0} applications in queuing; "
        f"{time.monotonic() - started:.0f} s in all"
    )
    assert len(final) == MEMBERS and all(version == ROUNDS + 1 for version in final.values())
    assert len(kills) == 4
    if lag_at_kill:  # events were lost with the broker: the check must have seen it
        assert drift_before > 0, before.stdout
    assert lost == []
    assert repeated == (0,) and backwards == (0,)
