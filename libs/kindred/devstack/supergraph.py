"""Subgraph names and ports from supergraph.yaml, and supergraphs rewritten for other ports."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import yaml

_JOIN_GRAPH = re.compile(r'(@join__graph\(name:\s*"(?P<name>[^"]+)",\s*url:\s*")(?P<url>[^"]+)(")')


def subgraph_ports(supergraph_yaml: Path) -> dict[str, int]:
    """Each subgraph's name and the port of its routing_url, in the file's order."""
    config = yaml.safe_load(Path(supergraph_yaml).read_text())
    ports: dict[str, int] = {}
    for name, entry in (config.get("subgraphs") or {}).items():
        port = urlsplit(entry["routing_url"]).port
        if port is None:
            raise ValueError(f"{supergraph_yaml}: routing_url of {name} names no port")
        ports[name] = port
    return ports


def subgraph_schema_files(supergraph_yaml: Path) -> dict[str, Path]:
    """Each subgraph's SDL file (absolute), as supergraph.yaml names it."""
    config = yaml.safe_load(Path(supergraph_yaml).read_text())
    folder = Path(supergraph_yaml).resolve().parent
    return {
        name: (folder / entry["schema"]["file"]).resolve()
        for name, entry in (config.get("subgraphs") or {}).items()
    }


def render_supergraph(source: Path, ports: dict[str, int], out_dir: Path) -> Path:
    """Write out_dir/supergraph.graphql: source with each named subgraph's URL pointing at
    http://127.0.0.1:<ports[name]>/graphql; raise ValueError for a name source lacks."""
    text = Path(source).read_text()
    found: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in ports:
            return match.group(0)
        found.add(name)
        path = urlsplit(match.group("url")).path or "/graphql"
        return f"{match.group(1)}http://127.0.0.1:{ports[name]}{path}{match.group(4)}"

    rendered = _JOIN_GRAPH.sub(replace, text)
    missing = sorted(set(ports) - found)
    if missing:
        raise ValueError(f"{source} has no @join__graph for subgraphs {missing}")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "supergraph.graphql"
    target.write_text(rendered)
    return target
