"""Event propagation lag: profile update committed in user_db → queue copy updated in queuing_db.

One member joins the queue, then changes their bio N times in a row (N ≥ 1,000), each
`updateProfile` sent straight to the user subgraph. PostgreSQL runs with
`track_commit_timestamp = on`, so for every update we read, on the one server clock:

- the commit time of the account row (user_db) and of the queue's profile copy at that
  version (queuing_db): **commit → commit is the lag**;
- the outbox row's `published_at` (the relay's time once the broker acknowledged it),
  which splits the lag into relay (commit → acknowledged) and consumer (→ applied);
- `synced_at - updated_at` as the application stamps them;
- from the mutation's response to the moment a poll of queuing_db (every ~1 ms) sees
  the new `synced_version`, on the client's monotonic clock.

    python -m bench.propagation_lag [--updates 1000]
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from typing import Any

import httpx
import psycopg

from bench.support import (
    gql,
    print_latencies,
    private_stack,
    progress,
    register_member,
    save_results,
)
from kindred.devstack.postgres import database_url
from kindred.devstack.stack import Stack

NAME = "propagation_lag"
TARGET_P99_MS = 250.0
POLL_INTERVAL_S = 0.001
UPDATE = """
mutation($input: ProfileInput!, $v: Int!) {
  updateProfile(input: $input, expectedVersion: $v) { version }
}"""
COPY = """
SELECT synced_version, synced_at, pg_xact_commit_timestamp(xmin)
FROM profile_copies WHERE user_id = %s"""
ACCOUNT = """
SELECT version, updated_at, pg_xact_commit_timestamp(xmin) FROM accounts WHERE id = %s"""
OUTBOX = """
SELECT published_at FROM outbox WHERE key = %s AND convert_from(value, 'UTF8')::jsonb
       ->> 'aggregate_version' = %s"""


def enable_commit_timestamps(stack: Stack) -> None:
    """Makes PostgreSQL record when each transaction committed (needs a restart)."""
    assert stack.postgres is not None, "the benchmark runs its own PostgreSQL"
    with psycopg.connect(database_url(stack.postgres_url, "postgres"), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET track_commit_timestamp = on")
    stack.postgres.stop()
    stack.postgres.start()


def _ms(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() * 1000


def wait_for_copy(
    queuing: psycopg.Connection[Any], user_id: str, version: int, timeout: float
) -> tuple[float, Any]:
    """Polls until the copy is at `version`; returns (monotonic time seen, the row)."""
    deadline = time.monotonic() + timeout
    while True:
        row = queuing.execute(COPY, (user_id,)).fetchone()
        if row is not None and row[0] >= version:
            return time.monotonic(), row
        if time.monotonic() > deadline:
            raise RuntimeError(f"copy still at {row and row[0]} after {timeout} s (want {version})")
        time.sleep(POLL_INTERVAL_S)


def wait_for_published(users: psycopg.Connection[Any], user_id: str, version: int) -> datetime:
    """The outbox row's published_at; the relay may commit it after the copy is applied."""
    deadline = time.monotonic() + 10.0
    while True:
        row = users.execute(OUTBOX, (user_id, str(version))).fetchone()
        if row is not None and row[0] is not None:
            published_at: datetime = row[0]
            return published_at
        if time.monotonic() > deadline:
            raise RuntimeError(f"outbox row of version {version} not marked published: {row}")
        time.sleep(POLL_INTERVAL_S)


def run(updates: int) -> dict[str, Any]:
    with (
        private_stack(NAME, before_subgraphs=enable_commit_timestamps) as stack,
        httpx.Client(timeout=30.0) as client,
    ):
        user_url, queuing_url = stack.subgraph_urls["user"], stack.subgraph_urls["queuing"]
        user_id, token, version = register_member(client, user_url)
        joined = gql(client, queuing_url, "mutation { joinQueue { syncedVersion } }", token=token)
        progress(f"member joined the queue at version {joined['joinQueue']['syncedVersion']}")
        with (
            psycopg.connect(database_url(stack.postgres_url, "user_db"), autocommit=True) as users,
            psycopg.connect(
                database_url(stack.postgres_url, "queuing_db"), autocommit=True
            ) as queuing,
        ):

            def update(i: int) -> tuple[float, float, int]:
                started = time.monotonic()
                data = gql(
                    client,
                    user_url,
                    UPDATE,
                    {"input": {"bio": f"bench update {i}"}, "v": version},
                    token=token,
                )
                return started, time.monotonic(), data["updateProfile"]["version"]

            # The consumer joins its group 5-18 s after start: wait for it, unmeasured.
            progress("warming up: waiting for the queuing consumer to receive events")
            _, _, version = update(-1)
            wait_for_copy(queuing, user_id, version, timeout=120.0)

            progress(f"measuring {updates} sequential profile updates")
            samples: list[dict[str, float]] = []
            for i in range(updates):
                started, answered, version = update(i)
                seen, (synced_version, synced_at, copy_committed) = wait_for_copy(
                    queuing, user_id, version, timeout=30.0
                )
                account = users.execute(ACCOUNT, (user_id,)).fetchone()
                assert account is not None and account[0] == version, account
                _, updated_at, account_committed = account
                published_at = wait_for_published(users, user_id, version)
                assert synced_version == version, (synced_version, version)
                samples.append(
                    {
                        "commit_to_commit": _ms(copy_committed, account_committed),
                        "relay": _ms(published_at, account_committed),
                        "consumer": _ms(copy_committed, published_at),
                        "updated_at_to_synced_at": _ms(synced_at, updated_at),
                        "response_to_visible": (seen - answered) * 1000,
                        "mutation_round_trip": (answered - started) * 1000,
                    }
                )
                if (i + 1) % 250 == 0:
                    progress(f"{i + 1}/{updates} updates")
    return {"updates": updates, "samples": samples}


LABELS = {
    "commit_to_commit": "update commit → copy commit (the lag)",
    "relay": "  of which: commit → broker ack (relay)",
    "consumer": "  of which: broker ack → copy commit",
    "updated_at_to_synced_at": "updated_at → synced_at (app stamps)",
    "response_to_visible": "mutation response → poll sees copy",
    "mutation_round_trip": "updateProfile round trip (context)",
}


def report(measured: dict[str, Any]) -> dict[str, Any]:
    samples = measured["samples"]
    figures = print_latencies(
        f"Event propagation lag over {len(samples):,} sequential profile updates (ms)",
        samples,
        LABELS,
    )
    p99 = figures["commit_to_commit"]["p99"]
    verdict = "met" if p99 < TARGET_P99_MS else "NOT met"
    print(f"target p99 < {TARGET_P99_MS:.0f} ms (commit → commit): {verdict} ({p99:.2f} ms)")
    return {
        "updates": measured["updates"],
        "target_p99_ms": TARGET_P99_MS,
        "poll_interval_ms": POLL_INTERVAL_S * 1000,
        "figures_ms": figures,
        "labels": LABELS,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.propagation_lag", description=__doc__)
    parser.add_argument("--updates", type=int, default=1000, help="measured updates (1000)")
    args = parser.parse_args(argv)
    results = report(run(args.updates))
    save_results(NAME, results)
    return results


if __name__ == "__main__":
    main()
