"""`python -m kindred.migrate <subgraph>…`: apply migrations (production runs this, not the app).

`python -m kindred.migrate --wait <subgraph>…` applies nothing: it waits until another process
(the Kubernetes migrate Job) has brought each database to the newest revision, so a new
subgraph pod (its init container) starts only on the schema its code expects."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from kindred.migrations import is_current, upgrade
from kindred.settings import load_settings


def migrations_dir(subgraph: str) -> Path:
    import importlib

    module = importlib.import_module(f"subgraphs.{subgraph}")
    return Path(module.__file__ or "").parent / "migrations"


def wait_until_current(subgraph: str, *, poll_seconds: float = 2.0) -> None:
    """Returns once the subgraph's database is at its newest revision."""
    settings = load_settings(subgraph)
    directory = migrations_dir(subgraph)
    announced = False
    while True:
        try:
            if is_current(settings.database_url, directory):
                print(f"{subgraph}: {settings.database_name} is up to date.", flush=True)
                return
            reason = "not migrated yet"
        except Exception as error:  # the database is not reachable yet
            reason = f"unreachable ({error.__class__.__name__})"
        if not announced:
            print(f"{subgraph}: waiting for the migrate job ({reason})…", flush=True)
            announced = True
        time.sleep(poll_seconds)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    wait = bool(argv) and argv[0] == "--wait"
    if wait:
        argv = argv[1:]
    if not argv:
        print(
            "usage: python -m kindred.migrate [--wait] <subgraph> [<subgraph> …]", file=sys.stderr
        )
        return 2
    if wait:
        for subgraph in argv:
            wait_until_current(subgraph)
        return 0
    for subgraph in argv:
        settings = load_settings(subgraph)
        print(f"migrating {subgraph} ({settings.database_name})…", flush=True)
        upgrade(settings.database_url, migrations_dir(subgraph))
    print("done.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
