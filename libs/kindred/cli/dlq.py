"""`kindred dlq list|show|redrive TOPIC`: the dead letters of a topic (`TOPIC.dlq`).

`list` shows every dead letter with its error and whether it was re-driven; `show` one
in full (`PARTITION:OFFSET`); `redrive`, once the cause is fixed, sends the dead letters
not re-driven yet back into their original topic (same key, value and headers, plus
`kindred-redriven-from`). What was re-driven is recorded as the committed offsets of the
consumer group `kindred-dlq-redrive` on the dead-letter topic, committed after the broker
acknowledged the re-sent messages: a second redrive sends only newer dead letters. (Should
the command die between the two, the next redrive sends those again; the consumers'
inbox makes that harmless.)"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition

from kindred.cli.broker import bootstrap, bounds, offsets_client, partitions, read_to_end
from kindred.topics import dead_letter_topic

REDRIVE_GROUP = "kindred-dlq-redrive"
_OURS = ("kindred-error", "kindred-original-topic", "kindred-original-offset", "kindred-consumer")


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "dlq",
        help="list, show and re-drive a topic's dead letters",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, text in (
        ("list", "every dead letter of TOPIC with its error"),
        ("show", "one dead letter in full"),
        ("redrive", "send the dead letters not re-driven yet back into TOPIC"),
    ):
        action = actions.add_parser(name, help=text, description=text)
        action.add_argument("topic", metavar="TOPIC", help="the topic (or its .dlq topic)")
        if name == "show":
            action.add_argument("position", metavar="PARTITION:OFFSET")
        action.set_defaults(run=run)


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    redriven: bool

    def header(self, name: str) -> str:
        for key, value in self.headers:
            if key == name:
                return value.decode(errors="replace")
        return ""

    @property
    def original_topic(self) -> str:
        return self.header("kindred-original-topic")


def dlq_topic(topic: str) -> str:
    return topic if topic.endswith(".dlq") else dead_letter_topic(topic)


async def dead_letters(servers: str, topic: str) -> list[DeadLetter]:
    """Every message of the dead-letter topic, marked re-driven or not."""
    letters: list[DeadLetter] = []
    async with offsets_client(servers, REDRIVE_GROUP) as consumer:
        parts = await partitions(consumer, [dlq_topic(topic)])
        if not parts:
            raise LookupError(f"no topic {dlq_topic(topic)!r} on the broker")
        done = {part: await consumer.committed(part) or 0 for part in parts}
        begins, ends = await bounds(consumer, parts)
        async for part, records in read_to_end(consumer, parts, begins, ends):
            letters += [
                DeadLetter(
                    record.partition,
                    record.offset,
                    record.key,
                    record.value,
                    [(k, bytes(v)) for k, v in record.headers],
                    record.offset < done[part],
                )
                for record in records
            ]
    return letters


async def redrive(servers: str, topic: str) -> list[DeadLetter]:
    """Re-sends the dead letters not re-driven yet; returns them."""
    letters = [letter for letter in await dead_letters(servers, topic) if not letter.redriven]
    if not letters:
        return []
    source = dlq_topic(topic)
    producer = AIOKafkaProducer(bootstrap_servers=servers, enable_idempotence=False, acks="all")
    await producer.start()
    try:
        deliveries = []
        for letter in letters:
            headers = [(k, v) for k, v in letter.headers if k not in _OURS]
            headers.append(
                ("kindred-redriven-from", f"{source}@{letter.partition}:{letter.offset}".encode())
            )
            target = letter.original_topic or topic.removesuffix(".dlq")
            deliveries.append(
                await producer.send(target, key=letter.key, value=letter.value, headers=headers)
            )
        for delivery in deliveries:
            await delivery
    finally:
        await producer.stop()
    async with offsets_client(servers, REDRIVE_GROUP) as consumer:
        last: dict[TopicPartition, int] = {}
        for letter in letters:
            part = TopicPartition(source, letter.partition)
            last[part] = max(last.get(part, 0), letter.offset + 1)
        consumer.assign(list(last))
        await consumer.commit(last)
    return letters


async def run(args: argparse.Namespace) -> int:
    servers = bootstrap()
    try:
        if args.action == "redrive":
            sent = await redrive(servers, args.topic)
            print(f"re-drove {len(sent)} dead letters from {dlq_topic(args.topic)}.")
            for letter in sent:
                print(
                    f"  {letter.partition}:{letter.offset} -> {letter.original_topic or args.topic}"
                )
            return 0
        letters = await dead_letters(servers, args.topic)
    except LookupError as error:
        print(f"{error}.", file=sys.stderr)
        return 2
    except Exception as error:
        print(
            f"cannot reach the broker at {servers}: {error!r}; set KINDRED_KAFKA_BOOTSTRAP.",
            file=sys.stderr,
        )
        return 2
    if args.action == "list":
        for letter in letters:
            state = "re-driven" if letter.redriven else "waiting"
            print(
                f"{letter.partition}:{letter.offset} {state:<9} "
                f"consumer={letter.header('kindred-consumer')} "
                f"key={(letter.key or b'').decode(errors='replace')} "
                f"error={letter.header('kindred-error')}"
            )
        waiting = sum(not letter.redriven for letter in letters)
        print(f"{len(letters)} dead letters on {dlq_topic(args.topic)}, {waiting} not re-driven")
        return 0
    try:
        partition, offset = (int(part) for part in args.position.split(":"))
    except ValueError:
        print(
            "give the dead letter as PARTITION:OFFSET, e.g. 0:12 (see `kindred dlq list`).",
            file=sys.stderr,
        )
        return 2
    for letter in letters:
        if (letter.partition, letter.offset) == (partition, offset):
            print(
                f"dead letter {partition}:{offset} of {dlq_topic(args.topic)}"
                f" ({'re-driven' if letter.redriven else 'waiting'})"
            )
            for key, value in letter.headers:
                print(f"  {key}: {value.decode(errors='replace')}")
            print(f"key: {(letter.key or b'').decode(errors='replace')}")
            print(f"value: {(letter.value or b'').decode(errors='replace')}")
            return 0
    print(f"no dead letter at {args.position} on {dlq_topic(args.topic)}.", file=sys.stderr)
    return 2
