"""`kindred`: the operator's command, installed with the package.

Each subcommand is a module of this package (or a subgraph's, named in full) with a
`register(commands)` function that adds its parser to `commands` (argparse's sub-parsers) and
sets `run` on it: a function taking the parsed arguments and returning the exit code (a
coroutine function is awaited). Commands read
the same `KINDRED_*` settings as the subgraphs, so they work against real URLs in production.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import sys
from collections.abc import Sequence

# The subcommand modules, in the order `kindred --help` lists them: a bare name is a module
# of this package, a dotted one a subgraph's own command (say, rebuilding its read model).
COMMANDS: tuple[str, ...] = ("trace", "subgraphs.history.rebuild")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="kindred", description="Operate a Kindred deployment: consistency, topics, traces."
    )
    commands = root.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = name if "." in name else f"kindred.cli.{name}"
        importlib.import_module(module).register(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        outcome = args.run(args)
        if inspect.iscoroutine(outcome):
            outcome = asyncio.run(outcome)
    except KeyboardInterrupt:
        print("interrupted.", file=sys.stderr)
        return 130
    return int(outcome or 0)


if __name__ == "__main__":
    sys.exit(main())
