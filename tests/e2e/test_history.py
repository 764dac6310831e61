"""The timeline through the one endpoint: a match, its conversation and two likes (a
connection and its lasting conversation) appear in each member's `me { history }`, and the
timeline rebuilt from the topics into an empty database equals the live one, a duplicate
delivery included."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import httpx
import psycopg
import pytest

from kindred.devstack.postgres import create_databases
from kindred.devstack.stack import Stack
from kindred.kafka import EventProducer
from subgraphs.history.rebuild import main as rebuild_main
from tests.e2e.conftest import wait_for_consumer
from tests.matchmaking_support import put_match_created
from tests.support import Member, error_codes, eventually, gql, register

HISTORY = """
query($kinds: [HistoryKind!]) { me { history(first: 50, kinds: $kinds) {
  edges { node { kind occurredAt user { id displayName } matchId conversationId connectionId
                 eventId } } } } }"""
LIKE = "mutation($u: ID!) { like(userId: $u) { reaction connected } }"
# What each member sees after the match, its conversation, and liking each other.
EXPECTED = {"MATCHED", "CONVERSATION_STARTED", "LIKED", "CONNECTED"}
COLUMNS = (
    "member_id, source_event_id, source_topic, kind, subject, occurred_at, other_member_id, details"
)


@pytest.fixture(scope="module")
def history_stack(stack: Stack) -> Stack:
    for subgraph in ("history", "interaction", "communication"):
        wait_for_consumer(stack, subgraph)
    return stack


@pytest.fixture
async def gateway(history_stack: Stack) -> Any:
    async with httpx.AsyncClient(base_url=history_stack.gateway_url, timeout=15.0) as client:
        yield client


async def _timeline(gateway: httpx.AsyncClient, member: Member) -> list[dict[str, Any]]:
    body = await gql(gateway, HISTORY, token=member.access_token)
    assert "errors" not in body, body
    return [edge["node"] for edge in body["data"]["me"]["history"]["edges"]]


def _kinds(entries: list[dict[str, Any]]) -> list[str]:
    return [entry["kind"] for entry in entries]


async def _like(gateway: httpx.AsyncClient, member: Member, other: Member) -> dict[str, Any]:
    body = await eventually(
        lambda: gql(gateway, LIKE, {"u": other.id}, token=member.access_token),
        lambda answer: "NOT_FOUND" not in error_codes(answer),
        within=30.0,
        what="the like accepted (interaction heard of the match)",
    )
    assert "errors" not in body, body
    return body


def _rows(url: str, members: list[str]) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as connection:
        return connection.execute(
            f"SELECT {COLUMNS} FROM history_entries WHERE member_id = ANY(%s::uuid[])"
            " ORDER BY member_id, occurred_at, source_event_id",
            (members,),
        ).fetchall()


async def _duplicates_seen(stack: Stack, topic: str) -> int:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{stack.subgraph_url('history')}/metrics")).text
    pattern = (
        r'kindred_consumer_events_total\{outcome="duplicate",subgraph="history",'
        rf'topic="{re.escape(topic)}"\}} (\S+)'
    )
    found = re.search(pattern, text)
    return int(float(found.group(1))) if found else 0


async def _redeliver(stack: Stack, infra: Any, event_id: str) -> str:
    """Sends the interaction subgraph's published event `event_id` to its topic again, as a
    broker redelivers; the topic."""
    with psycopg.connect(infra.database_url("interaction_db"), autocommit=True) as connection:
        row = connection.execute(
            "SELECT topic, key, value FROM outbox WHERE event_id = %s", (event_id,)
        ).fetchone()
    assert row is not None, f"event {event_id} is not in interaction's outbox"
    topic, key, value = row
    producer = EventProducer(stack.kafka_bootstrap)
    await producer.start()
    try:
        await (await producer.send(topic, key=key, value=bytes(value), headers=[]))
    finally:
        await producer.stop()
    return str(topic)


async def test_a_match_a_conversation_and_likes_make_each_members_timeline_and_a_rebuild(
    history_stack: Stack,
    gateway: httpx.AsyncClient,
    infra: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ana = await register(gateway, displayName="Ana")
    ben = await register(gateway, displayName="Ben")
    match_id = await put_match_created(history_stack.kafka_bootstrap, [ana.id, ben.id])
    await _like(gateway, ana, ben)
    await _like(gateway, ben, ana)

    timelines: dict[str, list[dict[str, Any]]] = {}
    for member, other in ((ana, ben), (ben, ana)):
        entries = await eventually(
            lambda member=member: _timeline(gateway, member),  # type: ignore[misc]
            lambda found: set(_kinds(found)) == EXPECTED and len(found) == 5,
            within=45.0,
            what=f"{member.id}'s timeline",
        )
        timelines[member.id] = entries
        assert sorted(_kinds(entries)) == sorted(
            ["MATCHED", "CONVERSATION_STARTED", "CONVERSATION_STARTED", "LIKED", "CONNECTED"]
        )
        assert {entry["user"]["id"] for entry in entries} == {other.id}
        assert {entry["user"]["displayName"] for entry in entries} == {
            "Ben" if member is ana else "Ana"
        }
        [matched] = [entry for entry in entries if entry["kind"] == "MATCHED"]
        assert matched["matchId"] == match_id
        conversations = [e for e in entries if e["kind"] == "CONVERSATION_STARTED"]
        assert {bool(e["matchId"]) for e in conversations} == {True, False}
        # Newest first.
        times = [entry["occurredAt"] for entry in entries]
        assert times == sorted(times, reverse=True)
    # Ana's LIKED is hers; Ben hears of her like only as their connection.
    [ana_like] = [e for e in timelines[ana.id] if e["kind"] == "LIKED"]
    [ben_like] = [e for e in timelines[ben.id] if e["kind"] == "LIKED"]
    assert ana_like["eventId"] != ben_like["eventId"]
    someone_elses = await gql(
        gateway,
        "query($id: ID!) { user(id: $id) { history { edges { node { kind } } } } }",
        {"id": ben.id},
        token=ana.access_token,
    )
    assert "FORBIDDEN" in error_codes(someone_elses), someone_elses

    # A duplicate delivery of Ana's like: the live consumer sees it and makes nothing.
    topic = "interaction.recorded"
    before = await _duplicates_seen(history_stack, topic)
    await _redeliver(history_stack, infra, ana_like["eventId"])
    await eventually(
        lambda: _duplicates_seen(history_stack, topic),
        lambda seen: seen > before,
        within=30.0,
        what="the redelivered like handled as a duplicate",
    )
    live_url = infra.database_url("history_db")
    live = _rows(live_url, [ana.id, ben.id])
    assert len(live) == 10

    # Rebuilt from the topics into an empty database: the same entries (the duplicate in the
    # log makes none), with the same ids and cursors.
    fresh = f"history_rebuild_{uuid.uuid4().hex[:8]}"
    create_databases(infra.postgres_url, [fresh])
    fresh_url = infra.database_url(fresh)
    arguments = ["--database-url", fresh_url, "--bootstrap", history_stack.kafka_bootstrap]
    capsys.readouterr()
    assert await asyncio.to_thread(rebuild_main, arguments) == 0
    progress = capsys.readouterr().err
    assert "events read" in progress and "interaction.recorded:" in progress, progress
    assert _rows(fresh_url, [ana.id, ben.id]) == live

    # A timeline with entries is refused unless emptied first.
    assert await asyncio.to_thread(rebuild_main, arguments) == 2
    assert "--truncate" in capsys.readouterr().err
    assert await asyncio.to_thread(rebuild_main, [*arguments, "--truncate"]) == 0
    assert _rows(fresh_url, [ana.id, ben.id]) == live
