"""`kindred lag`: per consumer group and partition, the committed offset, the end offset
and the lag between them.

The groups come from the broker (ListGroups); their committed offsets are asked for every
partition of every topic by name, because the embedded broker (Tansu) answers the
"all partitions" form of OffsetFetch with a malformed response. A partition the group never
committed is left out."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kindred.cli.broker import admin_client, bootstrap, offsets_client, partitions, topic_names


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "lag",
        help="per consumer group and partition: committed offset, end offset, lag",
        description=__doc__,
    )
    parser.add_argument("group", nargs="?", help="only this consumer group")
    parser.set_defaults(run=run)


async def lag_rows(servers: str, only: str | None = None) -> list[tuple[str, Any, int, int]]:
    """(group, partition, committed, end) for every committed partition of every group."""
    rows = []
    async with admin_client(servers) as admin, offsets_client(servers) as consumer:
        groups = sorted(group for group, _ in await admin.list_consumer_groups())
        parts = await partitions(consumer, await topic_names(consumer))
        ends = await consumer.end_offsets(parts) if parts else {}
        for group in groups:
            if only and group != only:
                continue
            committed = await admin.list_consumer_group_offsets(group, partitions=parts)
            for part in parts:
                offset = committed.get(part)
                if offset is None or offset.offset < 0:
                    continue
                rows.append((group, part, offset.offset, ends[part]))
    return rows


async def run(args: argparse.Namespace) -> int:
    servers = bootstrap()
    try:
        rows = await lag_rows(servers, args.group)
    except Exception as error:
        print(
            f"cannot reach the broker at {servers}: {error!r}; set KINDRED_KAFKA_BOOTSTRAP.",
            file=sys.stderr,
        )
        return 2
    print(f"{'GROUP':<28} {'TOPIC':<36} {'PART':>4} {'COMMITTED':>10} {'END':>10} {'LAG':>8}")
    total = 0
    for group, part, committed, end in rows:
        total += max(end - committed, 0)
        print(
            f"{group:<28} {part.topic:<36} {part.partition:>4} {committed:>10} {end:>10} "
            f"{max(end - committed, 0):>8}"
        )
    print(f"total lag: {total} messages over {len({row[0] for row in rows})} groups")
    return 0
