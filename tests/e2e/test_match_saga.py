"""The match saga survives a SIGKILL at each of its steps and completes or compensates once.

The queuing subgraph is restarted with a failpoint armed (`KINDRED_FAILPOINTS`): on
reaching it the process freezes itself, the test SIGKILLs it there, starts a clean
one, and counts what each subgraph's database holds for the match.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from kindred.devstack.stack import Stack
from tests.e2e.conftest import wait_for_consumer
from tests.matchmaking_support import join_queue, matchable_member, secluded_spot
from tests.support import Member, eventually

FAST = {"KINDRED_MATCH_INTERVAL_SECONDS": "0.5"}


def _frozen(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] == "T"


def _kill_when_frozen(stack: Stack, within: float = 30.0) -> None:
    """Waits for the queuing process to stop itself at its failpoint, then SIGKILLs it."""
    process = stack.subgraphs["queuing"]
    deadline = time.monotonic() + within
    while not _frozen(process.pid):
        assert process.running(), "queuing exited instead of freezing at its failpoint"
        assert time.monotonic() < deadline, "queuing never reached its failpoint"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    stack.stop_subgraph("queuing")


def _restart_queuing(stack: Stack, **env: str) -> None:
    stack.stop_subgraph("queuing")
    stack.start_subgraph("queuing", env={**FAST, **env})


@pytest.fixture
def db(infra: Any) -> Iterator[dict[str, psycopg.Connection[Any]]]:
    names = ("queuing", "communication", "notification")
    connections = {
        name: psycopg.connect(infra.database_url(f"{name}_db"), autocommit=True) for name in names
    }
    yield connections
    for connection in connections.values():
        connection.close()


@pytest.fixture
def clean_queuing(stack: Stack) -> Iterator[None]:
    """Whatever a test did to the queuing process, the next test gets the usual one."""
    yield
    _restart_queuing(stack)
    wait_for_consumer(stack, "queuing")


async def _pair(gateway: httpx.AsyncClient) -> tuple[Member, Member]:
    spot = secluded_spot()
    a = await matchable_member(gateway, name="Ana", gender="WOMAN", seeks=["MAN"], location=spot)
    b = await matchable_member(gateway, name="Ben", gender="MAN", seeks=["WOMAN"], location=spot)
    return a, b


def _match_of(db: dict[str, psycopg.Connection[Any]], member: Member) -> tuple[Any, ...] | None:
    return (
        db["queuing"]
        .execute(
            "SELECT m.id, m.status, m.conversation_id FROM matches m "
            "JOIN match_participants p ON p.match_id = m.id WHERE p.user_id = %s "
            "ORDER BY m.created_at LIMIT 1",
            (member.id,),
        )
        .fetchone()
    )


def _count(db: psycopg.Connection[Any], sql: str, *args: Any) -> int:
    row = db.execute(sql, args).fetchone()
    assert row is not None
    return int(row[0])


def _notified(db: dict[str, psycopg.Connection[Any]], kind: str, a: Member, b: Member) -> int:
    return _count(
        db["notification"],
        "SELECT count(*) FROM notifications WHERE type = %s AND user_id IN (%s, %s)",
        kind,
        a.id,
        b.id,
    )


def _assert_done_exactly_once(db: dict[str, psycopg.Connection[Any]], a: Member, b: Member) -> None:
    match = _match_of(db, a)
    assert match is not None and match[1] == "ACTIVE"
    match_id = match[0]
    assert (
        _count(
            db["queuing"],
            "SELECT count(*) FROM match_participants WHERE user_id IN (%s, %s)",
            a.id,
            b.id,
        )
        == 2
    )
    assert (
        _count(
            db["queuing"],
            "SELECT count(*) FROM queue_entries WHERE user_id IN (%s, %s)",
            a.id,
            b.id,
        )
        == 0
    )
    assert (
        _count(
            db["communication"], "SELECT count(*) FROM conversations WHERE match_id = %s", match_id
        )
        == 1
    )
    assert _notified(db, "MATCH_CREATED", a, b) == 2


@pytest.mark.parametrize(
    "failpoint", ["matcher.committed", "saga.conversation_recorded", "saga.notified_recorded"]
)
async def test_a_saga_killed_at_a_step_completes_exactly_once(
    failpoint: str,
    stack: Stack,
    gateway: httpx.AsyncClient,
    db: dict[str, psycopg.Connection[Any]],
    clean_queuing: None,
) -> None:
    wait_for_consumer(stack, "communication")
    wait_for_consumer(stack, "notification")
    _restart_queuing(stack, KINDRED_FAILPOINTS=failpoint)
    a, b = await _pair(gateway)
    await join_queue(gateway, a)
    await join_queue(gateway, b)
    _kill_when_frozen(stack)

    _restart_queuing(stack)
    await eventually(
        lambda: _match_of(db, a),
        lambda m: m is not None and m[1] == "ACTIVE",
        within=60.0,
        what="the saga completing after the restart",
    )
    _assert_done_exactly_once(db, a, b)


async def test_a_saga_whose_step_fails_for_good_compensates_exactly_once_across_a_kill(
    stack: Stack,
    gateway: httpx.AsyncClient,
    db: dict[str, psycopg.Connection[Any]],
    clean_queuing: None,
) -> None:
    wait_for_consumer(stack, "notification")
    short = {"KINDRED_SAGA_STEP_TIMEOUT_SECONDS": "0.5", "KINDRED_SAGA_MAX_ATTEMPTS": "2"}
    stack.stop_subgraph("communication")  # no conversation will ever be opened
    try:
        _restart_queuing(stack, KINDRED_FAILPOINTS="saga.compensated", **short)
        a, b = await _pair(gateway)
        await join_queue(gateway, a)
        await join_queue(gateway, b)
        _kill_when_frozen(stack)  # frozen in the middle of compensating, before its commit

        _restart_queuing(stack, **short)
        match = await eventually(
            lambda: _match_of(db, a),
            lambda m: m is not None and m[1] == "CANCELLED",
            within=30.0,
            what="the match cancelled",
        )
        match_id = match[0]
        cancelled = _count(
            db["queuing"],
            "SELECT count(*) FROM outbox WHERE topic = 'queue.match.cancelled' AND key = %s",
            str(match_id),
        )
        assert cancelled == 1
        assert (
            _count(
                db["queuing"],
                "SELECT count(*) FROM match_participants WHERE match_id = %s AND open",
                match_id,
            )
            == 0
        )
        await eventually(
            lambda: _notified(db, "MATCH_CANCELLED", a, b),
            lambda n: n == 2,
            what="both members told the match was cancelled",
        )
    finally:
        stack.start_subgraph("communication")
    wait_for_consumer(stack, "communication")
    # Communication catches up on the match it missed and leaves nothing open for it.
    await eventually(
        lambda: (
            db["communication"]
            .execute("SELECT status FROM conversations WHERE match_id = %s", (match_id,))
            .fetchall()
        ),
        lambda rows: rows in ([], [("CLOSED",)]),
        what="no open conversation for the cancelled match",
    )
    # Back in the queue at their old place, the two are matched anew (communication is up).
    await eventually(
        lambda: _count(
            db["queuing"],
            "SELECT count(*) FROM matches WHERE status = 'ACTIVE' AND %s = ANY(user_ids)",
            a.id,
        ),
        lambda n: n == 1,
        within=60.0,
        what="a new match once communication is back",
    )
