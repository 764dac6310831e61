"""Chat delivery latency: a message's commit in communication_db → its subscriber receiving it.

Two members share a conversation (opened by a `queue.match.created` event, as the match
saga opens it). One subscribes to `messageReceived` over graphql-transport-ws through
Hive Gateway; the other sends N messages (N ≥ 1,000) one after another with
`sendMessage`, also through the gateway. PostgreSQL runs with `track_commit_timestamp =
on`, so for every message we read:

- **commit → received** (the figure the goal is for): the message row's commit time on
  the server clock to the wall-clock moment the subscriber's WebSocket read it (same
  machine, same clock);
- mutation answer → received, on the client's monotonic clock (negative when the live
  copy arrives before the mutation's answer);
- the `sendMessage` round trip, for context.

    python -m bench.chat_latency [--messages 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import time
from typing import Any

import httpx
import psycopg

from bench.propagation_lag import enable_commit_timestamps
from bench.support import (
    print_latencies,
    private_stack,
    progress,
    register_member,
    save_results,
)
from kindred.devstack.postgres import database_url
from kindred.devstack.stack import Stack
from tests.communication_support import subscription
from tests.matchmaking_support import put_match_created

NAME = "chat_latency"
TARGET_P99_MS = 50.0
SEND = """
mutation($c: ID!, $t: String!, $k: String!) {
  sendMessage(conversationId: $c, text: $t, clientMessageId: $k) { id }
}"""
RECEIVED = "subscription($c: ID!) { messageReceived(conversationId: $c) { id text } }"
CONVERSATIONS = "{ me { conversations(first: 1) { edges { node { id } } } } }"
COMMITTED = "SELECT pg_xact_commit_timestamp(xmin) FROM messages WHERE id = %s"


async def open_conversation(stack: Stack, gateway: httpx.AsyncClient, members: list[Any]) -> str:
    """Puts a match on the broker and waits (unmeasured) for its conversation."""
    await put_match_created(stack.kafka_bootstrap, [member[0] for member in members], score=1.0)
    progress("waiting for the communication consumer to open the conversation")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        body = await _post(gateway, CONVERSATIONS, {}, members[0][1])
        edges = body["me"]["conversations"]["edges"]
        if edges:
            conversation_id: str = edges[0]["node"]["id"]
            return conversation_id
        await asyncio.sleep(0.2)
    raise RuntimeError("no conversation within 120 s")


async def _post(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str
) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
    )
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"the gateway answered {response.status_code}: {body}")
    data: dict[str, Any] = body["data"]
    return data


async def measure(stack: Stack, messages: int) -> list[dict[str, Any]]:
    with httpx.Client(timeout=30.0) as sync_client:
        members = [register_member(sync_client, stack.subgraph_urls["user"]) for _ in range(2)]
    (_, sender_token, _), (_, reader_token, _) = members
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30.0) as gateway:
        conversation_id = await open_conversation(stack, gateway, members)
        async with subscription(
            stack.graphql_url, RECEIVED, {"c": conversation_id}, token=reader_token
        ) as live:

            async def send(i: int) -> tuple[str, float, float, dict[str, Any]]:
                variables = {"c": conversation_id, "t": f"bench {i}", "k": f"bench-{i}"}
                started = time.monotonic()
                data = await _post(gateway, SEND, variables, sender_token)
                answered = time.monotonic()
                received = await live.next(within=10)
                return data["sendMessage"]["id"], started, answered, received

            # Until the subscription is live on the subgraph, sends are not delivered.
            progress("warming up: waiting for the subscription to go live")
            for i in range(200):
                variables = {"c": conversation_id, "t": "warm-up", "k": f"warm-{i}"}
                await _post(gateway, SEND, variables, sender_token)
                try:
                    await live.next(within=0.5)
                    break
                except TimeoutError:
                    continue
            else:
                raise RuntimeError("the subscription never went live")
            while True:  # a late warm-up message must not pass for a measured one
                try:
                    await live.next(within=0.5)
                except TimeoutError:
                    break

            progress(f"measuring {messages} sequential messages")
            raw: list[tuple[str, float, float, float, float]] = []
            for i in range(messages):
                message_id, started, answered, received = await send(i)
                seen_wall, seen = time.time(), time.monotonic()
                got = received["data"]["messageReceived"]
                assert got["id"] == message_id, (got, message_id)
                raw.append((message_id, started, answered, seen, seen_wall))
                if (i + 1) % 250 == 0:
                    progress(f"{i + 1}/{messages} messages")
    with psycopg.connect(
        database_url(stack.postgres_url, "communication_db"), autocommit=True
    ) as db:
        samples = []
        for message_id, started, answered, seen, seen_wall in raw:
            row = db.execute(COMMITTED, (message_id,)).fetchone()
            assert row is not None and row[0] is not None, message_id
            samples.append(
                {
                    "commit_to_received": (seen_wall - row[0].timestamp()) * 1000,
                    "answer_to_received": (seen - answered) * 1000,
                    "send_round_trip": (answered - started) * 1000,
                }
            )
    return samples


LABELS = {
    "commit_to_received": "message commit → subscriber receives (goal)",
    "answer_to_received": "mutation answer → subscriber receives",
    "send_round_trip": "sendMessage round trip via gateway",
}


def run(messages: int) -> dict[str, Any]:
    with private_stack(NAME, gateway=True, before_subgraphs=enable_commit_timestamps) as stack:
        samples = asyncio.run(measure(stack, messages))
    return {"messages": messages, "samples": samples}


def report(measured: dict[str, Any]) -> dict[str, Any]:
    samples = measured["samples"]
    figures = print_latencies(
        f"Chat delivery through Hive Gateway over {len(samples):,} sequential messages (ms)",
        samples,
        LABELS,
    )
    p99 = figures["commit_to_received"]["p99"]
    verdict = "met" if p99 <= TARGET_P99_MS else "NOT met"
    print(f"target p99 ≤ {TARGET_P99_MS:.0f} ms (commit → received): {verdict} ({p99:.2f} ms)")
    return {
        "messages": measured["messages"],
        "target_p99_ms": TARGET_P99_MS,
        "figures_ms": figures,
        "labels": LABELS,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.chat_latency", description=__doc__)
    parser.add_argument("--messages", type=int, default=1000, help="measured messages (1000)")
    args = parser.parse_args(argv)
    results = report(run(args.messages))
    saved = save_results(NAME, results)
    # The latest run also under a stable name, for links and comparisons.
    shutil.copyfile(saved, saved.with_name(f"{NAME}.json"))
    return results


if __name__ == "__main__":
    main()
