"""`kindred check`: compares every read model with its owner and prints the drift;
`--repair` re-publishes the owner's current state so the consumers converge.

Read models and their owners are declared by the subgraphs (`kindred.consistency`); each
database is reached through the subgraph's settings (`KINDRED_<NAME>_DATABASE_URL`, or
`KINDRED_POSTGRES_URL` and the subgraph's database), so no subgraph needs to run. A repair
is only written to the owner's outbox: the owner's relay (the owner subgraph, running)
publishes it, and the consumers apply it as they apply any event.
"""

from __future__ import annotations

import argparse
import os
import pkgutil
import sys
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import sqlalchemy.exc

from kindred import consistency
from kindred.cli.progress import Progress
from kindred.consistency import Catalogue, DriftKind, Key, ReadModel
from kindred.db import Database
from kindred.settings import load_settings

SHOWN_PER_KIND = 20


def subgraph_names() -> list[str]:
    """The deployment's subgraphs: those of supergraph.yaml (`KINDRED_SUPERGRAPH`, else the
    nearest one at or above the working directory), else every installed `subgraphs.<name>`
    package (in the image, which carries no supergraph.yaml)."""
    if os.environ.get("KINDRED_SUPERGRAPH"):
        return consistency.subgraphs_of(Path(os.environ["KINDRED_SUPERGRAPH"]))
    here = Path.cwd().resolve()
    for folder in [here, *here.parents]:
        if (folder / "supergraph.yaml").is_file():
            return consistency.subgraphs_of(folder / "supergraph.yaml")
    import subgraphs

    return sorted(info.name for info in pkgutil.iter_modules(subgraphs.__path__) if info.ispkg)


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "check",
        help="compare every read model with its owner; --repair re-publishes what drifted",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--user", type=uuid.UUID, metavar="ID", help="only this member's rows")
    scope.add_argument("--all", action="store_true", help="every row (the default)")
    parser.add_argument(
        "--repair",
        action="store_true",
        help="re-publish the owner's current state of every drifted row through its outbox",
    )
    parser.add_argument(
        "--batch-size", type=int, default=1000, metavar="N", help="rows read per batch"
    )
    parser.set_defaults(run=run)


@dataclass
class ModelReport:
    model: ReadModel
    checked: int = 0
    counts: Counter[DriftKind] = field(default_factory=Counter)
    shown: dict[DriftKind, list[str]] = field(default_factory=lambda: defaultdict(list))

    @property
    def drift(self) -> int:
        return sum(self.counts.values())


@dataclass
class Report:
    models: list[ModelReport]
    republished: Counter[str] = field(default_factory=Counter)
    unrepairable: int = 0

    @property
    def drift(self) -> int:
        return sum(model.drift for model in self.models)


def _key_text(key: Key) -> str:
    return "/".join(str(part) for part in key)


async def check(
    catalogue: Catalogue,
    database_urls: dict[str, str],
    *,
    user: uuid.UUID | None = None,
    batch_size: int = 1000,
    repair: bool = False,
    progress: TextIO | None = None,
) -> Report:
    """Checks every read model of `catalogue` (repairing as it goes if asked)."""
    databases: dict[str, Database] = {}

    def database(name: str) -> Database:
        if name not in databases:
            databases[name] = Database(database_urls[name], pool_size=2)
        return databases[name]

    report = Report([])
    repaired: set[tuple[str, str, Key]] = set()
    try:
        for model in catalogue.read_models:
            source = catalogue.sources[model.source]
            owner_db, copy_db = database(source.subgraph), database(model.subgraph)
            result = ModelReport(model)
            report.models.append(result)
            total = await consistency.count(owner_db, source.side, user)
            bar = Progress(model.label, total, stream=progress)
            async for batch in consistency.batches(
                model, source, owner_db, copy_db, size=batch_size, user=user
            ):
                result.checked += batch.checked
                bar.advance(batch.checked)
                for key, drift in batch.drift:
                    result.counts[drift.kind] += 1
                    shown = result.shown[drift.kind]
                    if len(shown) < SHOWN_PER_KIND:
                        shown.append(
                            f"{_key_text(key)}{f' ({drift.detail})' if drift.detail else ''}"
                        )
                if repair and batch.drift:
                    wanted = [
                        key
                        for key, _ in batch.drift
                        if (source.subgraph, source.name, key) not in repaired
                    ]
                    if wanted:
                        done = await consistency.republish(owner_db, source, wanted)
                        repaired.update((source.subgraph, source.name, key) for key in wanted)
                        report.republished[source.subgraph] += len(done)
                        report.unrepairable += len(wanted) - len(done)
            bar.close()
    finally:
        for db in databases.values():
            await db.dispose()
    return report


def print_report(report: Report, out: TextIO, *, repair: bool) -> None:
    for result in report.models:
        model = result.model
        owner, source = model.source
        counts = ", ".join(f"{result.counts[kind]} {kind}" for kind in DriftKind)
        print(
            f"{model.label} ({model.description}; owner: {owner}'s {source}): "
            f"{result.checked} checked, {counts}",
            file=out,
        )
        for kind in DriftKind:
            count = result.counts[kind]
            for line in result.shown.get(kind, []):
                print(f"  {kind}: {line}", file=out)
            if count > len(result.shown.get(kind, [])):
                print(f"  {kind}: … and {count - len(result.shown[kind])} more", file=out)
    drifted = [result for result in report.models if result.drift]
    totals = Counter[DriftKind]()
    for result in report.models:
        totals.update(result.counts)
    print(
        f"drift: {report.drift} in {len(drifted)} of {len(report.models)} read models "
        f"({', '.join(f'{totals[kind]} {kind}' for kind in DriftKind)})",
        file=out,
    )
    if not repair:
        if report.drift:
            print("repair with `kindred check --repair`.", file=out)
        return
    if report.republished:
        owners = ", ".join(f"{name}: {n}" for name, n in sorted(report.republished.items()))
        print(
            f"repair: re-published {sum(report.republished.values())} events through the "
            f"owners' outboxes ({owners}). Each owner's relay publishes them, so the owner "
            "subgraph must be running; run `kindred check` again once `kindred lag` shows "
            "the consumers caught up.",
            file=out,
        )
    if report.unrepairable:
        print(
            f"repair: {report.unrepairable} rows have no record at their owner to re-publish "
            "(a copy of something the owner never had); remove them by hand.",
            file=out,
        )


def database_urls(catalogue: Catalogue) -> dict[str, str]:
    names = {model.subgraph for model in catalogue.read_models}
    names |= {source.subgraph for source in catalogue.sources.values()}
    return {name: load_settings(name).database_url for name in names}


async def run(args: argparse.Namespace) -> int:
    catalogue = consistency.discover(subgraph_names())
    if args.batch_size < 1:
        print("--batch-size must be at least 1.", file=sys.stderr)
        return 2
    try:
        report = await check(
            catalogue,
            database_urls(catalogue),
            user=args.user,
            batch_size=args.batch_size,
            repair=args.repair,
        )
    except (OSError, sqlalchemy.exc.SQLAlchemyError) as error:
        print(
            f"cannot reach a database ({type(error).__name__}). Set KINDRED_POSTGRES_URL (or "
            "KINDRED_<SUBGRAPH>_DATABASE_URL) to where the subgraphs' databases are.",
            file=sys.stderr,
        )
        return 2
    print_report(report, sys.stdout, repair=args.repair)
    return 1 if report.drift else 0
