"""Match made → both notifications stored: the saga's fan-out latency, end to end.

Pairs of members who fit only each other (each pair at its own spot) join the queue in
rounds; the matcher (ticking every 0.5 s here) pairs them, the `queue.match.created`
event travels through the outbox, Kafka and the notification subgraph's consumer. With
`track_commit_timestamp = on`, on the one PostgreSQL clock: the commit time of the match
row (queuing_db) → the later commit of the two members' MATCH_CREATED notifications
(notification_db). Also: match commit → saga ACTIVE (conversation and both answers in).

    python -m bench.match_to_notifications [--pairs 200] [--round 20]
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

import httpx
import psycopg

from bench.propagation_lag import enable_commit_timestamps
from bench.support import (
    gql,
    print_table,
    private_stack,
    progress,
    register_member,
    save_results,
    summary_ms,
)
from kindred.devstack.postgres import database_url

NAME = "match_to_notifications"
UPDATE = """
mutation($input: ProfileInput!) { updateProfile(input: $input, expectedVersion: 1) { version } }"""
# The participant row is written by the tick and never updated while the match is open:
# its commit time is the match's (the match row itself is updated by the saga).
MATCH = """
SELECT p.match_id, pg_xact_commit_timestamp(p.xmin) FROM match_participants p
WHERE p.user_id = %s"""
ACTIVE = "SELECT status, updated_at, pg_xact_commit_timestamp(xmin) FROM matches WHERE id = %s"
NOTIFIED = """
SELECT count(*), max(pg_xact_commit_timestamp(xmin)) FROM notifications
WHERE type = 'MATCH_CREATED' AND user_id = ANY(%s)"""


def _member(client: httpx.Client, user_url: str, queuing_url: str, **profile: Any) -> str:
    user_id, token, _ = register_member(client, user_url)
    gql(client, user_url, UPDATE, {"input": profile}, token=token)
    gql(client, queuing_url, "mutation { joinQueue { syncedVersion } }", token=token)
    return user_id


def _pair(client: httpx.Client, user_url: str, queuing_url: str, rng: random.Random) -> list[str]:
    spot = {"latitude": rng.uniform(-60, 60), "longitude": rng.uniform(-170, 170)}
    common = {"location": spot, "languages": ["en"], "interests": ["chess"]}
    return [
        _member(
            client,
            user_url,
            queuing_url,
            **common,
            gender=gender,
            preferences={"gendersSought": [seeks], "maxDistanceKm": 5},
        )
        for gender, seeks in (("WOMAN", "MAN"), ("MAN", "WOMAN"))
    ]


def _wait(probe: Any, accept: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"not reached within {timeout} s: {value!r}")
        time.sleep(0.005)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--round", type=int, default=20, help="pairs joining per round")
    args = parser.parse_args(argv)
    rng = random.Random(11)
    env = {"KINDRED_MATCH_INTERVAL_SECONDS": "0.5"}
    with private_stack(NAME, before_subgraphs=enable_commit_timestamps, env=env) as stack:
        for subgraph in ("queuing", "communication", "notification"):
            progress(f"waiting for the {subgraph} consumer to get its partitions")
            _wait(
                lambda name=subgraph: httpx.get(
                    f"{stack.subgraph_url(name)}/health", timeout=5
                ).json(),
                lambda health: health.get("consumer") == "assigned",
                timeout=120.0,
            )
        user_url = stack.subgraph_urls["user"]
        queuing_url = stack.subgraph_urls["queuing"]
        url = stack.postgres_url
        notified_ms: list[float] = []
        active_ms: list[float] = []
        with (
            httpx.Client(timeout=30.0) as client,
            psycopg.connect(database_url(url, "queuing_db"), autocommit=True) as queuing,
            psycopg.connect(database_url(url, "notification_db"), autocommit=True) as notes,
        ):
            for start in range(0, args.pairs, args.round):
                pairs = [
                    _pair(client, user_url, queuing_url, rng)
                    for _ in range(min(args.round, args.pairs - start))
                ]
                for pair in pairs:
                    match_id, made = _wait(
                        lambda p=pair: queuing.execute(MATCH, (p[0],)).fetchone(),
                        lambda row: row is not None,
                    )
                    _, stored = _wait(
                        lambda p=pair: notes.execute(NOTIFIED, (p,)).fetchone(),
                        lambda row: row[0] == 2,
                    )
                    notified_ms.append((stored - made).total_seconds() * 1000)
                    _, _, done = _wait(
                        lambda m=match_id: queuing.execute(ACTIVE, (m,)).fetchone(),
                        lambda row: row[0] == "ACTIVE",
                    )
                    active_ms.append((done - made).total_seconds() * 1000)
                progress(f"{start + len(pairs)}/{args.pairs} pairs matched and notified")
    notified, active = summary_ms(notified_ms), summary_ms(active_ms)
    print_table(
        f"Match committed → both notifications committed ({len(notified_ms)} matches)",
        ["path", "p50 ms", "p90 ms", "p99 ms", "max ms"],
        [
            [
                "match → both MATCH_CREATED stored",
                *(notified[k] for k in ("p50", "p90", "p99", "max")),
            ],
            ["match → saga ACTIVE", *(active[k] for k in ("p50", "p90", "p99", "max"))],
        ],
    )
    save_results(NAME, {"pairs": args.pairs, "notified_ms": notified, "active_ms": active})


if __name__ == "__main__":
    main()
