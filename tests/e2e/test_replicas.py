"""Replicas for real: two processes each of user and queuing on one PostgreSQL, Redis and
broker, as the cluster runs them.

The stack's own user and queuing move to processes of their own; a second of each starts
on another port. The second user replica signs with the key the way a Kubernetes Secret
gives it (`KINDRED_JWT_PRIVATE_KEY_PATH` at a copy of the key, `KINDRED_JWT_CREATE_KEY=0`);
the second queuing replica joins the queuing consumer group.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import AsyncIterator, Iterator
from functools import partial
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kindred.devstack.broker import TOPIC_PARTITIONS
from kindred.devstack.process import ManagedProcess, free_port, wait_until
from kindred.devstack.stack import Stack, http_ok
from kindred.topics import Topic
from tests.support import Member, error_codes, eventually, gql, register

UPDATE = """
mutation($v: Int!, $input: ProfileInput!) {
  updateProfile(expectedVersion: $v, input: $input) { version displayName }
}"""
USER = "query($id: ID!) { user(id: $id) { displayName version } }"
LOGIN = """
mutation($email: String!, $password: String!) {
  login(email: $email, password: $password) { accessToken }
}"""
PROFILE_UPDATED = Topic.USER_PROFILE_UPDATED.value
REPLICA_SESSION_MS = 6_000  # the broker's usual minimum


@pytest.fixture(scope="module")
def replicas(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, list[str]]]:
    """Base URLs of two processes each of user and queuing: the stack's, then a second."""
    for name in ("user", "queuing"):
        stack.own_process(name)
    secret = tmp_path_factory.mktemp("secret") / "signing.pem"  # as a Secret is mounted
    shutil.copy(stack.data_dir / "keys" / "jwt-signing.pem", secret)
    urls = {name: [stack.subgraph_url(name)] for name in ("user", "queuing")}
    started: list[ManagedProcess] = []
    try:
        for name in ("user", "queuing"):
            port = free_port()
            # A short session: once stopped, the group hands its partitions back soon.
            env = {
                **stack.subgraph_env(),
                "KINDRED_PORT": str(port),
                "KINDRED_CONSUMER_SESSION_TIMEOUT_MS": str(REPLICA_SESSION_MS),
            }
            if name == "user":
                env.update(KINDRED_JWT_PRIVATE_KEY_PATH=str(secret), KINDRED_JWT_CREATE_KEY="0")
            argv = [sys.executable, "-m", "uvicorn", f"subgraphs.{name}.app:app"]
            argv += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
            process = ManagedProcess(
                f"{name}-replica",
                argv,
                log_path=stack.log_dir / f"{name}-replica.log",
                env=env,
                cwd=stack.repo_root,
                echo=False,
            )
            started.append(process)
            wait_until(
                partial(http_ok, f"http://127.0.0.1:{port}/health"),
                timeout=90,
                process=process,
                what=f"the second {name} replica answering GET /health",
            )
            urls[name].append(f"http://127.0.0.1:{port}")
        yield urls
    finally:
        for process in started:
            process.stop(grace=10.0)
        # The groups give every partition back to the stack's processes (once the stopped
        # replicas' sessions end) before the next tests send events.
        for name, topic in (("user", Topic.USER_SUSPENDED.value), ("queuing", PROFILE_UPDATED)):
            _wait_holding_every_partition(stack.subgraph_url(name), topic)


@pytest.fixture
async def clients(
    replicas: dict[str, list[str]],
) -> AsyncIterator[dict[str, list[httpx.AsyncClient]]]:
    """An HTTP client per replica: user[0], user[1], queuing[0], queuing[1]."""
    opened = {
        name: [httpx.AsyncClient(base_url=url, timeout=15.0) for url in urls]
        for name, urls in replicas.items()
    }
    yield opened
    for group in opened.values():
        for client in group:
            await client.aclose()


async def _assigned(client: httpx.AsyncClient) -> bool:
    return (await client.get("/health")).json().get("consumer") == "assigned"


def _lag_series(text: str, topic: str) -> int:
    """How many partitions of `topic` a replica holds (its consumer lag series)."""
    return sum(
        1
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "kindred_consumer_lag" and sample.labels.get("topic") == topic
    )


def _wait_holding_every_partition(url: str, topic: str, within: float = 90.0) -> None:
    deadline = time.monotonic() + within
    while _lag_series(httpx.get(f"{url}/metrics", timeout=15).text, topic) != TOPIC_PARTITIONS:
        assert time.monotonic() < deadline, f"{url} holds not every partition of {topic}"
        time.sleep(0.2)


async def _consumed(clients: list[httpx.AsyncClient], topic: str) -> dict[str, float]:
    """Events of `topic` consumed, by outcome, summed over the replicas."""
    totals: dict[str, float] = {}
    for client in clients:
        text = (await client.get("/metrics")).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "kindred_consumer_events_total" and (
                    sample.labels.get("topic") == topic
                ):
                    outcome = sample.labels["outcome"]
                    totals[outcome] = totals.get(outcome, 0.0) + sample.value
    return totals


async def _partitions(client: httpx.AsyncClient, topic: str) -> int:
    """How many partitions of `topic` this replica holds."""
    return _lag_series((await client.get("/metrics")).text, topic)


async def test_a_token_signed_by_either_user_replica_verifies_on_every_replica(
    clients: dict[str, list[httpx.AsyncClient]],
) -> None:
    first, second = clients["user"]
    keys = [(await user.get("/.well-known/jwks.json")).json() for user in (first, second)]
    assert keys[0] == keys[1] and len(keys[0]["keys"]) == 1

    member = await register(first)  # signed by the first replica
    login = await gql(second, LOGIN, {"email": member.email, "password": member.password})
    assert "errors" not in login, login
    tokens = {"first": member.access_token, "second": login["data"]["login"]["accessToken"]}

    for signer, token in tokens.items():
        for user in (first, second):
            me = await gql(user, "{ me { id } }", token=token)
            assert me == {"data": {"me": {"id": member.id}}}, (signer, str(user.base_url))
        for queuing in clients["queuing"]:
            length = await gql(queuing, "{ queueLength }", token=token)
            assert "errors" not in length, (signer, str(queuing.base_url), length)
    # A signature that is not the key's verifies nowhere.
    forged = tokens["first"][:-6] + ("A" * 6 if not tokens["first"].endswith("A" * 6) else "B" * 6)
    for user in (first, second):
        assert error_codes(await gql(user, "{ me { id } }", token=forged)) == ["UNAUTHENTICATED"]
    for queuing in clients["queuing"]:
        body = await gql(queuing, "{ queueLength }", token=forged)
        assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_a_profile_update_is_applied_once_by_the_queuing_group_of_two(
    clients: dict[str, list[httpx.AsyncClient]],
    queuing_db: psycopg.Connection[Any],
    user_db: psycopg.Connection[Any],
) -> None:
    queuing = clients["queuing"]
    for replica in queuing:  # both are members of the group, each holding partitions
        await eventually(partial(_assigned, replica), within=90, what="assigned")
        await eventually(
            partial(_partitions, replica, PROFILE_UPDATED), lambda held: held > 0, within=30
        )
    first_user, second_user = clients["user"]
    member = await register(first_user)
    joined = await gql(
        queuing[1], "mutation { joinQueue { syncedVersion } }", token=member.access_token
    )
    assert joined == {"data": {"joinQueue": {"syncedVersion": 1}}}, joined

    def events_of(member: Member) -> list[Any]:
        rows = user_db.execute(
            "SELECT event_id FROM outbox WHERE key = %s AND topic = %s ORDER BY id",
            (member.id, PROFILE_UPDATED),
        ).fetchall()
        return [row[0] for row in rows]

    def handled(event_ids: list[Any]) -> int:
        row = queuing_db.execute(
            "SELECT count(*) FROM inbox WHERE consumer = 'queuing-subgraph' AND event_id = ANY(%s)",
            (event_ids,),
        ).fetchone()
        return int(row[0]) if row else 0

    earlier = events_of(member)  # the registration's, if any: let it be consumed first
    await eventually(lambda: handled(earlier), lambda count: count == len(earlier))
    before = await _consumed(queuing, PROFILE_UPDATED)

    updated = await gql(
        second_user,
        UPDATE,
        {"v": 1, "input": {"interests": ["replicas"]}},
        token=member.access_token,
    )
    assert updated["data"]["updateProfile"]["version"] == 2, updated
    await eventually(lambda: [e for e in events_of(member) if e not in earlier], what="published")
    (event_id,) = [e for e in events_of(member) if e not in earlier]

    await eventually(lambda: handled([event_id]), lambda count: count == 1, what="consumed")
    copy = queuing_db.execute(
        "SELECT synced_version, interests FROM profile_copies WHERE user_id = %s", (member.id,)
    ).fetchone()
    assert copy == (2, ["replicas"])

    def increase(after: dict[str, float]) -> dict[str, float]:
        return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}

    # Once, by one replica of the two: applied once, and no replica saw it as a duplicate.
    await eventually(
        lambda: _consumed(queuing, PROFILE_UPDATED), lambda after: bool(increase(after))
    )
    assert increase(await _consumed(queuing, PROFILE_UPDATED)) == {"applied": 1.0}


async def test_a_change_through_one_user_replica_is_what_the_other_serves_next(
    clients: dict[str, list[httpx.AsyncClient]],
) -> None:
    first, second = clients["user"]
    reader = await register(first)
    subject = await register(first, displayName="Before")

    async def seen_by(user: httpx.AsyncClient) -> dict[str, Any]:
        return await gql(user, USER, {"id": subject.id}, token=reader.access_token)

    # Both replicas have it cached at version 1.
    for user in (first, second):
        assert await seen_by(user) == {"data": {"user": {"displayName": "Before", "version": 1}}}

    for version, (writer, other) in enumerate([(first, second), (second, first)], start=2):
        name = f"After {version}"
        body = await gql(
            writer,
            UPDATE,
            {"v": version - 1, "input": {"displayName": name}},
            token=subject.access_token,
        )
        assert body["data"]["updateProfile"] == {"version": version, "displayName": name}, body
        assert await seen_by(other) == {"data": {"user": {"displayName": name, "version": version}}}

    deleted = await gql(second, "mutation { deleteAccount }", token=subject.access_token)
    assert deleted == {"data": {"deleteAccount": True}}
    for user in (first, second):
        assert error_codes(await seen_by(user)) == ["NOT_FOUND"]
