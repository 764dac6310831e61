"""`python -m kindred.sdl [--check]`: export each subgraph's SDL from code to its committed file."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def subgraph_sdl_files(config: Path = REPO / "supergraph.yaml") -> dict[str, Path]:
    """Each subgraph of supergraph.yaml and its SDL file."""
    subgraphs = yaml.safe_load(config.read_text())["subgraphs"]
    return {
        name: (config.parent / spec["schema"]["file"]).resolve() for name, spec in subgraphs.items()
    }


def export(name: str) -> str:
    """The SDL the subgraph's code defines, as `_service { sdl }` serves it."""
    module = importlib.import_module(f"subgraphs.{name}.schema")
    return str(module.schema.as_str()).rstrip() + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, path in subgraph_sdl_files().items():
        sdl = export(name)
        current = path.read_text() if path.exists() else None
        if sdl == current:
            continue
        if check:
            stale.append(path.relative_to(REPO))
        else:
            path.write_text(sdl)
            print(f"wrote {path.relative_to(REPO)}")
    if stale:
        print(f"stale SDL: {', '.join(map(str, stale))}; run `make compose`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
