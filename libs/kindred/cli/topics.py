"""`kindred topics`: every topic with its partitions and their beginning and end offsets."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kindred.cli.broker import bootstrap, offsets_client, partitions, topic_names


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "topics", help="every topic: partitions, beginning and end offsets", description=__doc__
    )
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    servers = bootstrap()
    try:
        async with offsets_client(servers) as consumer:
            names = await topic_names(consumer)
            parts = await partitions(consumer, names)
            begins = await consumer.beginning_offsets(parts) if parts else {}
            ends = await consumer.end_offsets(parts) if parts else {}
    except Exception as error:
        print(
            f"cannot reach the broker at {servers}: {error!r}; set KINDRED_KAFKA_BOOTSTRAP.",
            file=sys.stderr,
        )
        return 2
    print(f"{'TOPIC':<40} {'PARTITION':>9} {'BEGINNING':>10} {'END':>10} {'MESSAGES':>9}")
    for part in parts:
        begin, end = begins[part], ends[part]
        print(f"{part.topic:<40} {part.partition:>9} {begin:>10} {end:>10} {end - begin:>9}")
    total = sum(ends[part] - begins[part] for part in parts)
    print(f"{len(names)} topics, {len(parts)} partitions, {total} messages")
    return 0
