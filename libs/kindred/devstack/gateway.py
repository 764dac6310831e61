"""The gateway of the embedded stack: a federation engine on a private port and the edge
on the public one.

The engine is chosen by `KINDRED_GATEWAY`:

- `grafbase` (the default): grafbase dev, composing the subgraphs' SDL files itself;
- `hive`: Hive Gateway on the composed supergraph (router/gateway.config.ts);
- `hive-rust`: Hive Gateway with the Rust query planner (@graphql-hive/router-runtime);
- `apollo-gateway`: Apollo Gateway on @apollo/server (router/apollo_gateway.mjs).

The edge owns everything clients see of the gateway: the GraphQL-over-HTTP request
checks, the document checks and limits, introspection, GraphiQL, /healthcheck and
/readiness. `KINDRED_EDGE` chooses it:

- `guard`: router/guard/, in C (`make install` builds it);
- `node`: router/edge/, on Node.js.

The benchmark also measures each engine on its own (no edge).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kindred.devstack.process import StartupError

ENGINES = ("grafbase", "hive", "hive-rust", "apollo-gateway")
DEFAULT_ENGINE = "grafbase"
EDGES = ("guard", "node")
DEFAULT_EDGE = "guard"
GUARD = Path("guard/build/kindred-guard")
GRAFBASE = Path("node_modules/@grafbase/cli-x86_64-unknown-linux-musl/grafbase")
HIVE = Path("node_modules/.bin/hive-gateway")


@dataclass(frozen=True)
class EngineLaunch:
    """How to start one engine and where it answers."""

    argv: list[str]
    health_path: str
    graphql_path: str = "/graphql"
    ws_path: str = "/graphql"
    env: Mapping[str, str] = field(default_factory=dict)


def engine_from_env(environ: Mapping[str, str] = os.environ) -> str:
    """The engine `KINDRED_GATEWAY` names (grafbase when unset)."""
    engine = environ.get("KINDRED_GATEWAY") or DEFAULT_ENGINE
    if engine not in ENGINES:
        raise StartupError(
            f"KINDRED_GATEWAY={engine!r} is not a gateway Kindred knows; "
            f"use one of {', '.join(ENGINES)}"
        )
    return engine


def threads_from_env(environ: Mapping[str, str] = os.environ) -> int:
    """grafbase's worker threads, `KINDRED_GATEWAY_THREADS` (1 when unset). Its runtime
    (tokio) would start one per core; on the few cores the whole embedded stack shares,
    one worker wakes less often and serves more (bench/gateway_vs_subgraph.py)."""
    value = environ.get("KINDRED_GATEWAY_THREADS") or "1"
    if not value.isdigit() or not 1 <= int(value) <= 64:
        raise StartupError(
            f"KINDRED_GATEWAY_THREADS={value!r} is not a thread count; use a whole number "
            "from 1 to 64 (or leave it unset for 1)"
        )
    return int(value)


def edge_from_env(environ: Mapping[str, str] = os.environ) -> str:
    """The edge `KINDRED_EDGE` names (DEFAULT_EDGE when unset)."""
    edge = environ.get("KINDRED_EDGE") or DEFAULT_EDGE
    if edge not in EDGES:
        raise StartupError(
            f"KINDRED_EDGE={edge!r} is not an edge Kindred knows; use one of {', '.join(EDGES)}"
        )
    return edge


def _installed(router: Path, relative: Path) -> str:
    executable = router / relative
    if not executable.exists():
        raise StartupError(f"{executable} is missing; run `make install`")
    return str(executable)


def grafbase_config(
    template: Path, port: int, subgraphs: Mapping[str, tuple[str, Path]], *, dedup: bool
) -> str:
    """router/grafbase.toml with the listen address and one table per subgraph
    (`subgraphs` maps a name to its GraphQL URL and SDL file)."""
    text = template.read_text()
    if not dedup:
        text = text.replace("inflight_deduplication = true", "inflight_deduplication = false")
    lines = [text.rstrip(), "", "[network]", f'listen_address = "127.0.0.1:{port}"']
    for name, (url, schema) in subgraphs.items():
        websocket_url = url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        lines += [
            "",
            f"[subgraphs.{name}]",
            f'url = "{url}"',
            f'websocket_url = "{websocket_url}"',
            f'schema_path = "{schema}"',
        ]
    return "\n".join(lines) + "\n"


def engine_launch(
    engine: str,
    *,
    router: Path,
    work_dir: Path,
    port: int,
    supergraph: Path,
    subgraphs: Mapping[str, tuple[str, Path]],
    dedup: bool = True,
    threads: int = 1,
) -> EngineLaunch:
    """The command line, paths and environment of `engine` listening on 127.0.0.1:port
    (grafbase with `threads` worker threads)."""
    if engine == "grafbase":
        work_dir.mkdir(parents=True, exist_ok=True)
        config = work_dir / "grafbase.toml"
        config.write_text(grafbase_config(router / "grafbase.toml", port, subgraphs, dedup=dedup))
        argv = [_installed(router, GRAFBASE), "--home", str(work_dir / "home"), "dev"]
        env = {"TOKIO_WORKER_THREADS": str(threads)}
        return EngineLaunch(
            [*argv, "--config", str(config)], health_path="/health", ws_path="/ws", env=env
        )
    if engine in ("hive", "hive-rust"):
        argv = [_installed(router, HIVE), "supergraph", str(supergraph)]
        argv += ["--port", str(port), "--host", "127.0.0.1"]
        if engine == "hive-rust":
            argv.append("--hive-router-runtime")
        env = {"KINDRED_GATEWAY_DEDUP": "1" if dedup else "0"}
        return EngineLaunch(argv, health_path="/readiness", env=env)
    if engine == "apollo-gateway":
        argv = ["node", str(router / "apollo_gateway.mjs"), str(supergraph), str(port)]
        # Apollo Server has no health route: a GET query for __typename is one.
        health = "/graphql?query=%7B__typename%7D"
        return EngineLaunch(argv, health_path=health)
    raise StartupError(f"unknown gateway engine {engine!r}; use one of {', '.join(ENGINES)}")


def api_schema(router: Path, supergraph: Path, out: Path) -> Path:
    """Write the API schema of `supergraph` (what clients see) to `out`."""
    printed = subprocess.run(
        ["node", str(router / "api_schema.mjs"), str(supergraph)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if printed.returncode != 0:
        raise StartupError(f"could not print the API schema of {supergraph}: {printed.stderr}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(printed.stdout)
    return out


def introspection_of(router: Path, schema: Path, out: Path) -> Path:
    """Write the introspection result (JSON) of the printed API schema `schema` to `out`:
    what the guard answers introspection from."""
    printed = subprocess.run(
        ["node", str(router / "api_schema.mjs"), "--introspection-of", str(schema)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if printed.returncode != 0:
        raise StartupError(f"could not introspect the API schema {schema}: {printed.stderr}")
    out.write_text(printed.stdout)
    return out


def _engine_options(launch: EngineLaunch, engine_port: int, engine: str) -> list[str]:
    return [
        "--engine",
        f"http://127.0.0.1:{engine_port}",
        "--engine-graphql",
        launch.graphql_path,
        "--engine-ws",
        launch.ws_path,
        "--engine-health",
        launch.health_path,
        "--engine-name",
        engine,
    ]


def guard_argv(
    router: Path,
    port: int,
    introspection: Path,
    engine_port: int,
    launch: EngineLaunch,
    *,
    engine: str = "engine",
    otlp_url: str | None = None,
) -> list[str]:
    """The guard's command line (router/guard/guard.c): public port, the API schema's
    introspection, the limits every subgraph enforces, and the engine behind it; with
    `otlp_url` (an OTLP/HTTP traces URL) it sends its spans there."""
    tracing = ["--otlp", otlp_url] if otlp_url else []
    return [
        _installed(router, GUARD),
        "--listen",
        f"127.0.0.1:{port}",
        "--introspection",
        str(introspection),
        "--limits",
        str(router.parent / "libs" / "kindred" / "limits.json"),
        "--graphiql",
        str(router / "graphiql" / "dist"),
        *_engine_options(launch, engine_port, engine),
        *tracing,
    ]


def edge_argv(
    router: Path,
    port: int,
    schema: Path,
    engine_port: int,
    launch: EngineLaunch,
    *,
    engine: str = "engine",
    otlp_url: str | None = None,
) -> list[str]:
    """The Node edge's command line: public port, API schema, and the engine behind it; with
    `otlp_url` (an OTLP/HTTP traces URL) it sends its spans there."""
    tracing = ["--otlp", otlp_url] if otlp_url else []
    return [
        "node",
        # A small young generation: the edge's objects live for one request, and a peak
        # RSS tens of MB lower costs a few more (short) scavenges.
        "--max-semi-space-size=2",
        str(router / "edge" / "main.mjs"),
        "--listen",
        f"127.0.0.1:{port}",
        "--schema",
        str(schema),
        *_engine_options(launch, engine_port, engine),
        *tracing,
    ]
