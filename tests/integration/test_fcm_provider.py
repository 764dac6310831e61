"""The FCM provider and the push worker against a local FCM stub (real HTTP on loopback)
and the session's real PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from kindred.db import Database
from kindred.devstack.postgres import create_databases
from kindred.events import Event
from kindred.migrations import upgrade
from kindred.settings import load_settings
from kindred.topics import Topic
from subgraphs.notification import delivery, handlers
from subgraphs.notification.app import SUBGRAPH as NOTIFICATION
from subgraphs.notification.fcm import FcmProvider
from subgraphs.notification.push import PushOutcome, push_provider
from tests.support import eventually
from tests.support_fcm import FcmStub, RunningStub


@pytest.fixture(scope="module")
def stub() -> Iterator[FcmStub]:
    running = RunningStub()
    yield running.start()
    running.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


def provider(
    stub: FcmStub, http: httpx.AsyncClient, folder: Path, clock: Any = None, **account: Any
) -> FcmProvider:
    settings = dataclasses.replace(
        load_settings("notification"),
        push_provider="fcm",
        fcm_credentials_path=stub.credentials(folder, **account),
        fcm_endpoint=stub.url,
        # Named in the key file, the stub's token URI wins over this setting.
        fcm_token_url="http://127.0.0.1:9/not-used",
    )
    made = push_provider(settings, http)
    assert isinstance(made, FcmProvider)
    if clock is not None:
        made._clock = clock
    return made


# -- the provider ------------------------------------------------------------------------


async def test_a_push_is_sent_with_one_oauth_token_fetched_once_and_cached(
    stub: FcmStub, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    fcm = provider(stub, http, tmp_path)
    before = stub.token_requests
    token = f"phone-{uuid.uuid4().hex}"
    for i in range(3):
        result = await fcm.send(token, "It's a match!", "Say hello", {"matchId": "m1", "n": str(i)})
        assert result.outcome == PushOutcome.SENT and result.http_status == 200
    assert stub.token_requests - before == 1
    assert fcm.token_requests == 1
    first = stub.sent_to(token)[0]
    assert first == {
        "token": token,
        "notification": {"title": "It's a match!", "body": "Say hello"},
        "data": {"matchId": "m1", "n": "0"},
    }


async def test_the_token_is_renewed_shortly_before_it_expires(
    stub: FcmStub, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    now = [time.time()]
    fcm = provider(stub, http, tmp_path, clock=lambda: now[0])
    stub.token_lifetime = 120
    try:
        token = f"phone-{uuid.uuid4().hex}"
        await fcm.send(token, "t", "b", {})
        now[0] += 50  # still more than a minute left: cached
        await fcm.send(token, "t", "b", {})
        assert fcm.token_requests == 1
        now[0] += 15  # under a minute left: renewed before sending
        await fcm.send(token, "t", "b", {})
        assert fcm.token_requests == 2
    finally:
        stub.token_lifetime = 3600


async def test_a_refused_access_token_is_renewed_once_and_the_push_retried(
    stub: FcmStub, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    fcm = provider(stub, http, tmp_path)
    token = f"phone-{uuid.uuid4().hex}"
    assert (await fcm.send(token, "t", "b", {})).outcome == PushOutcome.SENT
    stub.revoke_access_tokens()
    assert (await fcm.send(token, "t", "b", {})).outcome == PushOutcome.SENT
    assert fcm.token_requests == 2
    assert len(stub.sent_to(token)) == 2


async def test_an_assertion_signed_with_another_key_gets_no_token(
    stub: FcmStub, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    other = RunningStub()  # not started: only its freshly generated key is used
    wrong = dataclasses.replace(stub, private_key_pem=other.stub.private_key_pem)
    fcm = provider(wrong, http, tmp_path)
    result = await fcm.send("phone", "t", "b", {})
    assert result.outcome == PushOutcome.RETRY
    assert result.error_code == "OAUTH" and "invalid_grant" in (result.error or "")


@pytest.mark.parametrize(
    ("answer", "outcome", "status", "code", "retry_after"),
    [
        ("UNREGISTERED", PushOutcome.DEAD_TOKEN, 404, "UNREGISTERED", None),
        ("INVALID_TOKEN", PushOutcome.DEAD_TOKEN, 400, "INVALID_ARGUMENT", None),
        ("UNAVAILABLE", PushOutcome.RETRY, 503, "UNAVAILABLE", 1.0),
        ("QUOTA_EXCEEDED", PushOutcome.RETRY, 429, "QUOTA_EXCEEDED", 2.0),
        ("SENDER_ID_MISMATCH", PushOutcome.FAILED, 403, "SENDER_ID_MISMATCH", None),
    ],
)
async def test_v1_errors_map_to_outcomes(
    stub: FcmStub,
    http: httpx.AsyncClient,
    tmp_path: Path,
    answer: str,
    outcome: PushOutcome,
    status: int,
    code: str,
    retry_after: float | None,
) -> None:
    token = f"phone-{uuid.uuid4().hex}"
    stub.script[token] = [answer]
    result = await provider(stub, http, tmp_path).send(token, "t", "b", {})
    assert (result.outcome, result.http_status, result.error_code, result.retry_after) == (
        outcome,
        status,
        code,
        retry_after,
    )


# -- the worker against the stub -----------------------------------------------------------


# A database of this module's own: the end-to-end stack's notification subgraph, running
# in the same session, has a push worker that would lease these deliveries too.
WORKER_DATABASE = f"fcm_worker_test_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
async def database(infra: Any) -> AsyncIterator[Database]:
    create_databases(infra.postgres_url, [WORKER_DATABASE])
    url = infra.database_url(WORKER_DATABASE)
    await asyncio.to_thread(upgrade, url, NOTIFICATION.migrations_dir)
    db = Database(url, pool_size=4)
    yield db
    await db.dispose()
    with psycopg.connect(infra.database_url("postgres"), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{WORKER_DATABASE}" WITH (FORCE)')


@pytest.fixture
def db(infra: Any, database: Database) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(infra.database_url(WORKER_DATABASE), autocommit=True) as connection:
        yield connection


async def handle(database: Database, event: Event) -> None:
    async with database.unit_of_work() as uow:
        await handlers.HANDLERS[event.topic](uow, event)
        await uow.commit()


async def member_with_phone(database: Database) -> tuple[uuid.UUID, str]:
    member, token = uuid.uuid4(), f"phone-{uuid.uuid4().hex}"
    payload = {"device_id": str(uuid.uuid4()), "user_id": str(member), "token": token}
    await handle(
        database,
        Event(
            topic=Topic.USER_DEVICE_REGISTERED,
            aggregate_id=token,
            aggregate_version=3,
            payload={**payload, "platform": "ANDROID"},
        ),
    )
    return member, token


async def matched(database: Database, member: uuid.UUID) -> uuid.UUID:
    match_id = uuid.uuid4()
    payload = {
        "match_id": str(match_id),
        "user_ids": [str(member), str(uuid.uuid4())],
        "score": 0.7,
        "created_at": datetime.now(UTC).isoformat(),
    }
    event = Event(Topic.QUEUE_MATCH_CREATED, str(match_id), 1, payload)
    await handle(database, event)
    return match_id


def _delivery(db: psycopg.Connection[Any], token: str) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT id, status, attempts FROM deliveries WHERE token = %s ORDER BY created_at",
        (token,),
    ).fetchall()


def _attempts(db: psycopg.Connection[Any], token: str) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT a.outcome, a.http_status, a.error_code, a.attempted_at FROM delivery_attempts a "
        "JOIN deliveries d ON d.id = a.delivery_id WHERE d.token = %s ORDER BY a.id",
        (token,),
    ).fetchall()


async def test_an_unregistered_token_is_removed_and_announced(
    stub: FcmStub, http: httpx.AsyncClient, tmp_path: Path, database: Database, db: Any
) -> None:
    member, token = await member_with_phone(database)
    await matched(database, member)
    stub.script[token] = ["UNREGISTERED"]
    policy = delivery.RetryPolicy()
    await delivery.deliver_due(database, provider(stub, http, tmp_path), policy)

    [(_, status, attempts)] = _delivery(db, token)
    assert (status, attempts) == ("DEAD_TOKEN", 1)
    assert [row[:3] for row in _attempts(db, token)] == [("DEAD_TOKEN", 404, "UNREGISTERED")]
    assert db.execute("SELECT removed FROM devices WHERE token = %s", (token,)).fetchone() == (
        True,
    )
    [(_, value)] = db.execute(
        "SELECT key, value FROM outbox WHERE topic = 'notification.device.unregistered' "
        "AND position(%s in convert_from(value, 'UTF8')) > 0",
        (token,),
    ).fetchall()
    announced = json.loads(bytes(value))
    assert announced["payload"]["token"] == token
    assert announced["payload"]["user_id"] == str(member)
    assert announced["payload"]["version"] == 3
    # The dead token gets nothing more.
    await matched(database, member)
    assert len(_delivery(db, token)) == 1


async def test_an_unavailable_provider_is_retried_with_backoff_until_it_succeeds(
    stub: FcmStub, http: httpx.AsyncClient, tmp_path: Path, database: Database, db: Any
) -> None:
    member, token = await member_with_phone(database)
    await matched(database, member)
    stub.script[token] = ["UNAVAILABLE", "UNAVAILABLE"]  # each asks for Retry-After: 1
    fcm = provider(stub, http, tmp_path)
    policy = delivery.RetryPolicy(base_seconds=0.1)

    async def work() -> list[tuple[Any, ...]]:
        await delivery.deliver_due(database, fcm, policy)
        return _delivery(db, token)

    await eventually(work, lambda rows: rows[0][1] == "SENT", within=15, what="the push sent")
    [(_, _, attempts)] = _delivery(db, token)
    assert attempts == 3
    tries = _attempts(db, token)
    assert [row[:3] for row in tries] == [
        ("RETRY", 503, "UNAVAILABLE"),
        ("RETRY", 503, "UNAVAILABLE"),
        ("SENT", 200, None),
    ]
    # The provider's Retry-After (1 s) was honoured over the shorter backoff.
    gaps = [(b[3] - a[3]).total_seconds() for a, b in itertools.pairwise(tries)]
    assert all(gap >= 1.0 for gap in gaps), gaps
    assert len(stub.sent_to(token)) == 3


async def test_a_delivery_claimed_by_a_worker_that_died_is_sent_after_its_lease(
    stub: FcmStub, http: httpx.AsyncClient, tmp_path: Path, database: Database, db: Any
) -> None:
    member, token = await member_with_phone(database)
    await matched(database, member)
    policy = delivery.RetryPolicy(lease_seconds=0.5)
    claimed = await delivery.claim_due(database, policy)  # ... and the worker dies here
    assert token in {row.token for row in claimed}
    fcm = provider(stub, http, tmp_path)
    await delivery.deliver_due(database, fcm, policy)
    assert _delivery(db, token)[0][1] == "PENDING"  # still leased to the dead worker

    async def work() -> str:
        await delivery.deliver_due(database, fcm, policy)
        return str(_delivery(db, token)[0][1])

    await eventually(work, lambda status: status == "SENT", within=10, what="sent after the lease")
    assert [row[0] for row in _attempts(db, token)] == ["SENT"]
    sent = stub.sent_to(token)
    assert len(sent) == 1 and sent[0]["data"]["type"] == "MATCH_CREATED"
