"""`python -m kindred.migrate <subgraph>…`: apply migrations (production runs this, not the app)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from kindred.migrations import upgrade
from kindred.settings import load_settings


def migrations_dir(subgraph: str) -> Path:
    import importlib

    module = importlib.import_module(f"subgraphs.{subgraph}")
    return Path(module.__file__ or "").parent / "migrations"


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not argv:
        print("usage: python -m kindred.migrate <subgraph> [<subgraph> …]", file=sys.stderr)
        return 2
    for subgraph in argv:
        settings = load_settings(subgraph)
        print(f"migrating {subgraph} ({settings.database_name})…", flush=True)
        upgrade(settings.database_url, migrations_dir(subgraph))
    print("done.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
