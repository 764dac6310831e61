"""`_entities` for 100 users against the user subgraph: SQL statements and latency.

The user subgraph runs in this process (uvicorn on a free port, real HTTP), so a
SQLAlchemy `before_cursor_execute` listener on its engine sees every statement sent to
PostgreSQL. Only statements issued while serving our requests are counted (a context
variable set around each HTTP request), not the outbox relay's background polling.

- cold: the 100 accounts' cache entries are deleted from Redis before each request, so
  every request goes to PostgreSQL (expected: exactly 1 statement);
- warm: the cache holds all 100 (expected: 0 statements).

    python -m bench.entities_batch [--users 100] [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import dataclasses
import time
from collections import Counter
from typing import Any

import httpx
import redis.asyncio as redis
import uvicorn
from sqlalchemy import event
from starlette.types import ASGIApp, Receive, Scope, Send

from bench.support import print_table, private_stack, progress, save_results, summary_ms
from kindred.app import create_app
from kindred.devstack.postgres import database_url
from kindred.devstack.process import free_port
from kindred.devstack.stack import Stack
from kindred.settings import load_settings
from subgraphs.user.app import SUBGRAPH as USER

NAME = "entities_batch"
ENTITIES = """
query($r: [_Any!]!) {
  _entities(representations: $r) { ... on User { id displayName age gender } }
}"""
REGISTER = """
mutation($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }"""

_serving_request: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "serving_request", default=False
)


class StatementCounter:
    """Counts the SQL statements the app sends while serving an HTTP request."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if _serving_request.get():
            self.statements.append(statement)

    def take(self) -> list[str]:
        taken, self.statements = self.statements, []
        return taken


def abbreviate(statement: str, keep: int = 70) -> str:
    """One line: the statement's start and end (its FROM … WHERE), without the middle."""
    line = " ".join(statement.split())
    return line if len(line) <= 2 * keep else f"{line[:keep]} … {line[-keep:]}"


def marking_requests(app: ASGIApp) -> ASGIApp:
    """The app, with `_serving_request` set while it handles an HTTP request."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        token = _serving_request.set(True)
        try:
            await app(scope, receive, send)
        finally:
            _serving_request.reset(token)

    return wrapped


async def measure(stack: Stack, users: int, requests: int) -> dict[str, Any]:
    settings = dataclasses.replace(
        load_settings("user"),
        database_url=database_url(stack.postgres_url, "user_db"),
        redis_url=stack.redis_url,
        kafka_bootstrap=stack.kafka_bootstrap,
        data_dir=stack.data_dir,
        jwt_private_key_path=stack.data_dir / "keys" / "jwt-signing.pem",
        migrate_on_start=True,
    )
    app = create_app(USER, settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            marking_requests(app),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
        )
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()  # raises what stopped it
        await asyncio.sleep(0.05)
    counter = StatementCounter()
    event.listen(app.state.platform.db.engine.sync_engine, "before_cursor_execute", counter)
    cache = redis.Redis.from_url(stack.redis_url)
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        async with httpx.AsyncClient(timeout=30.0) as client:
            progress(f"registering {users} members in the in-process user subgraph")
            ids, token = [], ""
            for i in range(users):
                answer = await client.post(
                    url,
                    json={
                        "query": REGISTER,
                        "variables": {
                            "input": {
                                "email": f"bench-entities-{i}-{time.time_ns()}@example.com",
                                "password": "correct horse battery",
                                "displayName": f"Member {i}",
                                "birthdate": "1990-01-01",
                                "gender": "WOMAN" if i % 2 else "MAN",
                            }
                        },
                    },
                )
                payload = answer.json()["data"]["register"]
                ids.append(payload["user"]["id"])
                token = payload["accessToken"]
            counter.take()
            body = {
                "query": ENTITIES,
                "variables": {"r": [{"__typename": "User", "id": i} for i in ids]},
            }
            headers = {"authorization": f"Bearer {token}"}
            cache_keys = [f"user:account:{i}" for i in ids]

            async def one(cold: bool) -> tuple[float, list[str]]:
                if cold:
                    await cache.delete(*cache_keys)
                counter.take()
                started = time.perf_counter()
                answer = await client.post(url, json=body, headers=headers)
                elapsed = (time.perf_counter() - started) * 1000
                statements = counter.take()
                data = answer.json()
                entities = (data.get("data") or {}).get("_entities") or []
                if answer.status_code != 200 or data.get("errors") or len(entities) != users:
                    raise RuntimeError(f"bad _entities answer ({answer.status_code}): {data}")
                if [e and e["id"] for e in entities] != ids:
                    raise RuntimeError("_entities answered other users or another order")
                return elapsed, statements

            results: dict[str, Any] = {}
            for phase, cold in (("cold", True), ("warm", False)):
                progress(f"{phase} cache: 10 unmeasured requests, then {requests} measured")
                for _ in range(10):
                    await one(cold)
                latencies: list[float] = []
                counts: Counter[int] = Counter()
                texts: Counter[str] = Counter()
                for _ in range(requests):
                    elapsed, statements = await one(cold)
                    latencies.append(elapsed)
                    counts[len(statements)] += 1
                    texts.update(abbreviate(statement) for statement in statements)
                results[phase] = {
                    "requests": requests,
                    "statements_per_request": {str(k): v for k, v in sorted(counts.items())},
                    "statements_seen": dict(texts),
                    "latency_ms": summary_ms(latencies),
                }
    finally:
        await cache.aclose()
        server.should_exit = True
        await serving
    return {"users": users, "results": results}


def report(measured: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for phase, r in measured["results"].items():
        per_request = ", ".join(
            f"{n} stmt x{times}" for n, times in r["statements_per_request"].items()
        )
        latency = r["latency_ms"]
        rows.append(
            [
                phase,
                per_request,
                latency["p50"],
                latency["p90"],
                latency["p99"],
                latency["max"],
                r["requests"],
            ]
        )
    print_table(
        f"_entities with {measured['users']} User representations, user subgraph in-process "
        "over HTTP",
        ["cache", "SQL statements per request", "p50 ms", "p90 ms", "p99 ms", "max ms", "requests"],
        rows,
    )
    for phase, r in measured["results"].items():
        for text, times in r["statements_seen"].items():
            print(f"  {phase}: {times} x {text}")
    return measured


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.entities_batch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--users", type=int, default=100, help="representations (100)")
    parser.add_argument("--requests", type=int, default=200, help="measured per phase (200)")
    args = parser.parse_args(argv)
    with private_stack(NAME, subgraphs=False) as stack:
        measured = asyncio.run(measure(stack, args.users, args.requests))
    results = report(measured)
    save_results(NAME, results)
    return results


if __name__ == "__main__":
    main()
