"""`kindred history-rebuild`: the timeline made again from scratch, by replaying its topics.

The history subgraph's entries have no owner but the event log, so the topics it reads are
kept for good (retention.ms -1; see deploy/kubernetes/base/kafka.yaml). The rebuild reads
each of them from its first offset with a consumer of its own (no group: it commits no
offsets, so the live consumer's place is untouched) up to the end offsets it saw when it
started, and applies the subgraph's own handlers, each event with its inbox row, so the
result is what the live consumer made. It writes only into an empty timeline: a fresh
database (`--database-url`), or the subgraph's own with `--truncate`.

    kindred history-rebuild [--database-url URL] [--bootstrap HOST:PORT] [--truncate]
    python -m subgraphs.history.rebuild ...   (the same, without the `kindred` command)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from sqlalchemy import delete, text
from sqlalchemy.exc import OperationalError

from kindred.cli.broker import bounds, partitions, read_to_end
from kindred.db import Database
from kindred.events import Event, InvalidEvent
from kindred.kafka import Handler, InboxEntry, handle_once
from kindred.migrations import upgrade
from kindred.settings import load_settings
from subgraphs.history import service
from subgraphs.history.handlers import HANDLERS
from subgraphs.history.models import HistoryEntry

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
# The inbox name of the rebuild's applies: apart from the live consumer's, whose rows in a
# database being rebuilt in place would otherwise make every event look already applied.
CONSUMER = "history-rebuild"
BATCH = 500


class RebuildRefused(Exception):
    """The rebuild cannot start; the message says what to do."""


@dataclass
class TopicProgress:
    """One topic's replay: events to read (end minus first offset at the start) and read."""

    total: int = 0
    read: int = 0


@dataclass
class Report:
    """What a rebuild did."""

    topics: dict[str, TopicProgress] = field(default_factory=dict)
    applied: int = 0
    duplicates: int = 0
    failed: int = 0
    entries: int = 0
    seconds: float = 0.0

    @property
    def read(self) -> int:
        return sum(progress.read for progress in self.topics.values())

    @property
    def total(self) -> int:
        return sum(progress.total for progress in self.topics.values())


Progress = Callable[[Report, bool], None]


def print_progress(stream: TextIO | None = None, every: float = 1.0) -> Progress:
    """A progress reporter: a line of events read so far, at most every `every` seconds,
    then each topic's count against the end offsets the rebuild stops at (on stderr)."""
    last = 0.0

    def report(state: Report, done: bool) -> None:
        nonlocal last
        out = stream or sys.stderr
        now = time.monotonic()
        if not done and now - last < every:
            return
        last = now
        share = f" ({100 * state.read // state.total}%)" if state.total else ""
        print(
            f"history-rebuild: {state.read}/{state.total} events read{share}, "
            f"{state.applied} applied, {state.duplicates} duplicates, {state.failed} failed",
            file=out,
            flush=True,
        )
        if done:
            for topic, progress in sorted(state.topics.items()):
                print(f"  {topic}: {progress.read}/{progress.total}", file=out)
            print(f"  {state.entries} timeline entries in {state.seconds:.1f} s", file=out)

    return report


async def rebuild(
    *,
    database_url: str,
    bootstrap: str,
    truncate: bool = False,
    handlers: Mapping[str, Handler] = HANDLERS,
    progress: Progress | None = None,
) -> Report:
    """Replays `handlers`' topics from the first offset to the end offsets seen at the
    start into the timeline at `database_url` (migrated first). `RebuildRefused` when the
    timeline holds entries and `truncate` is False."""
    started = time.monotonic()
    try:
        await asyncio.to_thread(upgrade, database_url, MIGRATIONS)
    except OperationalError as error:
        raise RebuildRefused(
            f"cannot reach the database ({error.orig!r}): create it, or pass --database-url "
            "(KINDRED_HISTORY_DATABASE_URL) of one that exists."
        ) from None
    database = Database(database_url, pool_size=2)
    try:
        await _make_room(database, truncate=truncate)
        report = Report()
        await _replay(database, bootstrap, handlers, report, progress)
        async with database.read() as connection:
            counted = await connection.execute(text("SELECT count(*) FROM history_entries"))
            report.entries = int(counted.scalar_one())
        report.seconds = time.monotonic() - started
        if progress is not None:
            progress(report, True)
        return report
    finally:
        await database.dispose()


async def _make_room(database: Database, *, truncate: bool) -> None:
    async with database.read() as connection:
        occupied = await service.has_entries(connection)
    if occupied and not truncate:
        raise RebuildRefused(
            "the history database already holds timeline entries: point --database-url at "
            "an empty database, or pass --truncate to empty this one first."
        )
    if truncate:
        async with database.unit_of_work() as uow:
            await uow.session.exec(delete(HistoryEntry))
            await uow.session.exec(delete(InboxEntry).where(InboxEntry.consumer == CONSUMER))  # type: ignore[arg-type]
            await uow.commit()


async def _replay(
    database: Database,
    bootstrap: str,
    handlers: Mapping[str, Handler],
    report: Report,
    progress: Progress | None,
) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
    )
    try:
        await consumer.start()
    except Exception as error:
        raise RebuildRefused(
            f"cannot reach the broker at {bootstrap} ({error!r}): pass --bootstrap "
            "(KINDRED_KAFKA_BOOTSTRAP) of a running one."
        ) from None
    try:
        parts = await partitions(consumer, list(handlers))
        begins, ends = await bounds(consumer, parts)
        report.topics = {topic: TopicProgress() for topic in handlers}
        for part in parts:
            report.topics[part.topic].total += ends[part] - begins[part]
        if progress is not None:
            progress(report, False)
        async for part, records in read_to_end(consumer, parts, begins, ends, batch=BATCH):
            await _apply(database, handlers, records, report)
            report.topics[part.topic].read += len(records)
            if progress is not None:
                progress(report, False)
    finally:
        await consumer.stop()


async def _apply(
    database: Database,
    handlers: Mapping[str, Handler],
    records: Sequence[ConsumerRecord[bytes, bytes]],
    report: Report,
) -> None:
    """Applies a batch in one transaction, each event with its inbox row, as the live
    consumer does. If any event fails, the batch is applied again with a savepoint per
    event, and an event that is not one, or whose handler fails (the live consumer
    dead-letters it), is counted and left out."""
    if not records:
        return
    try:
        outcome = await _apply_batch(database, handlers, records, isolate=False)
    except Exception:
        outcome = await _apply_batch(database, handlers, records, isolate=True)
    report.applied += outcome["applied"]
    report.duplicates += outcome["duplicate"]
    report.failed += outcome["failed"]


async def _apply_batch(
    database: Database,
    handlers: Mapping[str, Handler],
    records: Sequence[ConsumerRecord[bytes, bytes]],
    *,
    isolate: bool,
) -> Counter[str]:
    """One transaction for `records`; with `isolate`, a savepoint per event (a failing one
    is skipped), else the first failure raises. The count of each outcome."""
    outcome: Counter[str] = Counter()
    async with database.unit_of_work() as uow:
        for record in records:
            try:
                event = Event.from_json(record.value)
            except InvalidEvent as error:
                if not isolate:
                    raise
                log.warning("skipping %s@%d: %s", record.topic, record.offset, error)
                outcome["failed"] += 1
                continue
            if not isolate:
                claimed = await handle_once(uow, CONSUMER, handlers[record.topic], event)
            else:
                try:
                    async with uow.session.begin_nested():
                        claimed = await handle_once(uow, CONSUMER, handlers[record.topic], event)
                except Exception as error:
                    log.warning("skipping %s %s: %r", record.topic, event.event_id, error)
                    outcome["failed"] += 1
                    continue
            outcome["applied" if claimed else "duplicate"] += 1
        await uow.commit()
    return outcome


# -- the command ---------------------------------------------------------------------------


def register(commands: Any) -> None:
    """Adds `history-rebuild` to the `kindred` command's sub-parsers."""
    parser = commands.add_parser(
        "history-rebuild",
        help="rebuild the history timeline by replaying its topics",
        description=__doc__.split("\n\n")[1].replace("\n", " ") if __doc__ else None,
    )
    parser.add_argument(
        "--database-url",
        help="the history database to write (default: KINDRED_HISTORY_DATABASE_URL, or "
        "history_db on KINDRED_POSTGRES_URL); migrated first, and it must hold no entries",
    )
    parser.add_argument(
        "--bootstrap", help="the Kafka bootstrap servers (default: KINDRED_KAFKA_BOOTSTRAP)"
    )
    parser.add_argument(
        "--truncate",
        action="store_true",
        help="empty the timeline first (otherwise a database with entries is refused)",
    )
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    settings = load_settings("history")
    try:
        report = await rebuild(
            database_url=args.database_url or settings.database_url,
            bootstrap=args.bootstrap or settings.kafka_bootstrap,
            truncate=args.truncate,
            progress=print_progress(),
        )
    except RebuildRefused as error:
        print(f"history-rebuild: {error}", file=sys.stderr)
        return 2
    if report.failed:
        print(
            f"history-rebuild: {report.failed} events could not be applied (see the log "
            "above; the live consumer dead-letters them too): the timeline is without them.",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    root = argparse.ArgumentParser(prog="kindred")
    register(root.add_subparsers(dest="command", required=True))
    args = root.parse_args(["history-rebuild", *(argv if argv is not None else sys.argv[1:])])
    return int(asyncio.run(args.run(args)))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main())
