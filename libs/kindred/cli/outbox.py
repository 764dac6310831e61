"""`kindred outbox [SUBGRAPH] [--retry]`: each subgraph's unpublished and failed outbox rows.

A pending row waits for its subgraph's relay (is the subgraph running, the broker
reachable?); a failed row was refused by the broker for good (say, too large) and is kept
with its error. `--retry` makes the failed rows pending again (after the cause is fixed:
say, the broker's message size limit raised), and the relay publishes them."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import sqlalchemy as sa
import sqlalchemy.exc

from kindred.cli.check import subgraph_names
from kindred.db import Database
from kindred.settings import load_settings

SHOWN = 10


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "outbox",
        help="unpublished and failed outbox rows per subgraph; --retry the failed ones",
        description=__doc__,
    )
    parser.add_argument("subgraph", nargs="?", help="only this subgraph")
    parser.add_argument("--retry", action="store_true", help="make failed rows pending again")
    parser.set_defaults(run=run)


_SUMMARY = sa.text(
    "SELECT count(*) FILTER (WHERE published_at IS NULL AND failed_at IS NULL), "
    "count(*) FILTER (WHERE failed_at IS NOT NULL), min(created_at) FILTER "
    "(WHERE published_at IS NULL AND failed_at IS NULL) FROM outbox"
)
_FAILED = sa.text(
    "SELECT id, event_id, topic, key, attempts, last_error FROM outbox "
    "WHERE failed_at IS NOT NULL ORDER BY id LIMIT :n"
)
_RETRY = sa.text(
    "UPDATE outbox SET failed_at = NULL, last_error = NULL WHERE failed_at IS NOT NULL RETURNING id"
)


async def inspect(url: str, *, retry: bool) -> tuple[int, int, Any, list[Any], int]:
    """(pending, failed, oldest pending, some failed rows, rows made pending again)."""
    db = Database(url, pool_size=1)
    try:
        async with db.engine.begin() as connection:
            pending, failed, oldest = (await connection.execute(_SUMMARY)).one()
            rows = list((await connection.execute(_FAILED, {"n": SHOWN})).all())
            retried = len((await connection.execute(_RETRY)).all()) if retry else 0
            if retried:
                await connection.execute(sa.text("SELECT pg_notify('kindred_outbox', '')"))
        return pending, failed, oldest, rows, retried
    finally:
        await db.dispose()


async def run(args: argparse.Namespace) -> int:
    names = subgraph_names()
    if args.subgraph:
        if args.subgraph not in names:
            print(
                f"no subgraph {args.subgraph!r}; supergraph.yaml lists {', '.join(names)}.",
                file=sys.stderr,
            )
            return 2
        names = [args.subgraph]
    unreachable = 0
    for name in names:
        url = load_settings(name).database_url
        try:
            pending, failed, oldest, rows, retried = await inspect(url, retry=args.retry)
        except (OSError, sqlalchemy.exc.SQLAlchemyError) as error:
            unreachable += 1
            print(
                f"{name}: cannot read its outbox ({type(error).__name__}); check "
                f"KINDRED_{name.upper()}_DATABASE_URL or KINDRED_POSTGRES_URL."
            )
            continue
        since = f" (oldest from {oldest:%Y-%m-%d %H:%M:%S})" if oldest else ""
        print(f"{name}: {pending} unpublished{since}, {failed} failed")
        for row in rows:
            print(
                f"  failed #{row.id} {row.topic} key={row.key} event={row.event_id} "
                f"after {row.attempts} attempts: {row.last_error}"
            )
        if retried:
            print(
                f"  {retried} failed rows are pending again: the {name} subgraph's relay "
                "publishes them."
            )
    return 2 if unreachable else 0
