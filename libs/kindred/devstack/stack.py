"""The whole Kindred stack on one machine: infrastructure, subgraphs and the gateway."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from functools import partial
from pathlib import Path

from kindred import protocols
from kindred.devstack.broker import EmbeddedBroker, create_topics, run_coroutine
from kindred.devstack.gateway import (
    EngineLaunch,
    api_schema,
    edge_argv,
    edge_from_env,
    engine_from_env,
    engine_launch,
    guard_argv,
    introspection_of,
    threads_from_env,
)
from kindred.devstack.postgres import EmbeddedPostgres, create_databases
from kindred.devstack.process import (
    HostProcess,
    ManagedProcess,
    StartupError,
    ensure_port_free,
    free_port,
    wait_until,
)
from kindred.devstack.redis_server import EmbeddedRedis
from kindred.devstack.supergraph import render_supergraph, subgraph_ports, subgraph_schema_files
from kindred.devstack.traces import EmbeddedTraceStore

DEFAULT_POSTGRES_PORT = 5432
DEFAULT_REDIS_PORT = 6379
DEFAULT_KAFKA_PORT = 9092
DEFAULT_GATEWAY_PORT = 4000
# OTLP/HTTP's usual port: the trace store (`kindred trace` reads it).
DEFAULT_TRACE_STORE_PORT = 4318
# The admin `make dev` (and the end-to-end tests) create at start: known to everyone who
# reads this file, so it exists only where the stack sets it (never in production).
DEV_ADMIN_EMAIL = "admin@kindred.dev"
DEV_ADMIN_PASSWORD = "kindred-dev-admin"
# How the subgraphs run (KINDRED_DEV_PROCESSES): "one" Python process serving every
# subgraph on its own port (kindred.devstack.host), or a "separate" process for each.
LAYOUTS = ("one", "separate")
HOST_NAME = "subgraphs"


def layout_from_env() -> str:
    """KINDRED_DEV_PROCESSES, "one" by default; StartupError for anything else."""
    layout = os.environ.get("KINDRED_DEV_PROCESSES") or LAYOUTS[0]
    if layout not in LAYOUTS:
        raise StartupError(
            f"KINDRED_DEV_PROCESSES={layout!r}: say `one` (every subgraph in one Python "
            "process, the default) or `separate` (a process per subgraph)"
        )
    return layout


def find_repo_root(start: Path | None = None) -> Path:
    """The nearest folder at or above start (default: cwd) that holds supergraph.yaml."""
    here = (start or Path.cwd()).resolve()
    for folder in [here, *here.parents]:
        if (folder / "supergraph.yaml").is_file():
            return folder
    raise StartupError(f"no supergraph.yaml at or above {here}; run this from the Kindred repo")


def http_ok(url: str) -> bool:
    """True when GET url answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def database_name(subgraph: str) -> str:
    """The database a subgraph owns."""
    return f"{subgraph}_db"


class Stack:
    """Starts and stops Kindred's processes on chosen ports with data under data_dir.

    An external server is used instead of the embedded one when its URL is given
    (postgres_url, redis_url, kafka_bootstrap); topics and databases are created either way.
    processes picks the layout of the subgraphs (LAYOUTS; default KINDRED_DEV_PROCESSES):
    with "one", `start_subgraphs` serves them all from one process (`host`), and a
    subgraph stopped and started again (`stop_subgraph`, `start_subgraph`, `own_process`)
    comes back as a process of its own, which a test may kill alone.
    The trace store (on trace_store_port; None for none) receives every process's spans.
    """

    def __init__(
        self,
        data_dir: Path,
        postgres_port: int = DEFAULT_POSTGRES_PORT,
        redis_port: int = DEFAULT_REDIS_PORT,
        kafka_port: int = DEFAULT_KAFKA_PORT,
        subgraph_ports: dict[str, int] | None = None,
        gateway_port: int = DEFAULT_GATEWAY_PORT,
        *,
        trace_store_port: int | None = DEFAULT_TRACE_STORE_PORT,
        postgres_url: str | None = None,
        redis_url: str | None = None,
        kafka_bootstrap: str | None = None,
        repo_root: Path | None = None,
        echo: bool = True,
        processes: str | None = None,
    ) -> None:
        self.processes = processes or layout_from_env()
        if self.processes not in LAYOUTS:
            raise StartupError(f"processes={self.processes!r}: one of {', '.join(LAYOUTS)}")
        self.repo_root = (repo_root or find_repo_root()).resolve()
        self.data_dir = Path(data_dir).resolve()
        self.log_dir = self.data_dir / "logs"
        self.echo = echo
        self.declared_ports = subgraph_ports_of(self.repo_root)
        self.subgraph_ports = dict(subgraph_ports or self.declared_ports)
        self.gateway_port = gateway_port

        self.postgres = (
            None
            if postgres_url
            else EmbeddedPostgres(
                self.data_dir / "postgres", postgres_port, log_dir=self.log_dir, echo=echo
            )
        )
        self.redis = (
            None
            if redis_url
            else EmbeddedRedis(self.data_dir / "redis", redis_port, log_dir=self.log_dir, echo=echo)
        )
        self.broker = (
            None if kafka_bootstrap else EmbeddedBroker(kafka_port, log_dir=self.log_dir, echo=echo)
        )
        self.trace_store = (
            None
            if trace_store_port is None
            else EmbeddedTraceStore(trace_store_port, log_dir=self.log_dir, echo=echo)
        )
        # Where every process sends its spans (OTLP/HTTP), and `kindred trace` reads them.
        self.trace_store_url = self.trace_store.url if self.trace_store else None
        self.postgres_url = postgres_url or self.postgres.url  # type: ignore[union-attr]
        self.redis_url = redis_url or self.redis.url  # type: ignore[union-attr]
        self.kafka_bootstrap = kafka_bootstrap or self.broker.bootstrap  # type: ignore[union-attr]

        self.subgraph_urls = {
            name: f"http://127.0.0.1:{port}/graphql" for name, port in self.subgraph_ports.items()
        }
        self.gateway_url = f"http://127.0.0.1:{gateway_port}"
        self.graphql_url = f"{self.gateway_url}/graphql"
        # Subgraphs that run as processes of their own, and the one serving the others.
        self.subgraphs: dict[str, ManagedProcess] = {}
        self.host: HostProcess | None = None
        # The gateway's public process (the edge) and the federation engine behind it.
        self.gateway: ManagedProcess | None = None
        self.engine: ManagedProcess | None = None
        self.engine_url: str | None = None
        # The running engine's name, private port, launch and supergraph (what an edge is
        # put before).
        self._engine_launch: tuple[str, int, EngineLaunch, Path] | None = None

    # -- infrastructure ---------------------------------------------------------------

    def start_infra(self) -> None:
        """Start the embedded servers (those without an external URL), then create every
        subgraph's database and every topic."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.trace_store is not None:
            self.trace_store.start()
        if self.postgres is not None:
            self.postgres.start()
        create_databases(self.postgres_url, [database_name(name) for name in self.subgraph_ports])
        if self.redis is not None:
            self.redis.start()
        if self.broker is not None:
            self.broker.start()
        run_coroutine(create_topics(self.kafka_bootstrap))

    def subgraph_env(self) -> dict[str, str]:
        """The environment every subgraph gets: ours plus the stack's URLs."""
        env = dict(os.environ)
        # The project may not be pip-installed: make `kindred` and `subgraphs` importable.
        paths = [str(self.repo_root / "libs"), str(self.repo_root)]
        if env.get("PYTHONPATH"):
            paths.append(env["PYTHONPATH"])
        env.update(
            PYTHONPATH=os.pathsep.join(paths),
            PYTHONUNBUFFERED="1",
            KINDRED_POSTGRES_URL=self.postgres_url,
            KINDRED_REDIS_URL=self.redis_url,
            KINDRED_KAFKA_BOOTSTRAP=self.kafka_bootstrap,
            KINDRED_DATA_DIR=str(self.data_dir),
        )
        if self.trace_store_url:
            env["KINDRED_OTLP_ENDPOINT"] = self.trace_store_url
        if "user" in self.subgraph_ports:  # a stack of other subgraphs only has no issuer
            env.update(
                KINDRED_JWKS_URL=f"{self.subgraph_url('user')}/.well-known/jwks.json",
                KINDRED_USER_GRAPHQL_URL=f"{self.subgraph_url('user')}/graphql",
            )
        if "admin" in self.subgraph_ports:
            # Staff tokens' keys, the owners staff actions call, and the dev-only seeded admin.
            env.update(KINDRED_STAFF_JWKS_URL=f"{self.subgraph_url('admin')}/.well-known/jwks.json")
            for owner in ("moderation", "subscription"):
                if owner in self.subgraph_ports:
                    env[f"KINDRED_{owner.upper()}_GRAPHQL_URL"] = (
                        f"{self.subgraph_url(owner)}/graphql"
                    )
            env.setdefault("KINDRED_STAFF_SEED_EMAIL", DEV_ADMIN_EMAIL)
            env.setdefault("KINDRED_STAFF_SEED_PASSWORD", DEV_ADMIN_PASSWORD)
        return env

    def subgraph_url(self, name: str) -> str:
        """Where one subgraph listens, e.g. http://127.0.0.1:3001."""
        return f"http://127.0.0.1:{self.subgraph_ports[name]}"

    # -- subgraphs --------------------------------------------------------------------

    def start_subgraph(
        self,
        name: str,
        timeout: float = 60.0,
        app: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        """Start one subgraph under uvicorn and return once GET /health answers 200.
        app overrides the ASGI target (default subgraphs.<name>.app:app); env adds to
        or overrides its environment (say, a shorter saga timeout for a test)."""
        self._spawn_subgraph(name, app, env)
        self._wait_healthy(name, timeout)

    def start_subgraphs(self, timeout: float = 60.0) -> None:
        """Start every subgraph that does not run, in one process or one each (the
        layout), then wait for each one's health (they boot in parallel)."""
        pending = [name for name in self.subgraph_ports if self.process_of(name) is None]
        if pending and self.processes == "one" and self.host is None:
            for name in pending:
                ensure_port_free(
                    self.subgraph_ports[name],
                    f"subgraph {name}",
                    "free the port or stop what runs there",
                )
            self.host = HostProcess(
                HOST_NAME,
                {name: self.subgraph_ports[name] for name in pending},
                log_dir=self.log_dir,
                env=self.subgraph_env(),
                cwd=self.repo_root,
                echo=self.echo,
            )
        else:
            for name in pending:
                self._spawn_subgraph(name)
        for name in self.subgraph_ports:
            self._wait_healthy(name, timeout)

    def process_of(self, name: str) -> ManagedProcess | None:
        """The running process that serves subgraph `name` (its own, or the shared one)."""
        own = self.subgraphs.get(name)
        if own is not None and own.running():
            return own
        if self.host is not None and self.host.running() and name in self.host.serving:
            return self.host
        return None

    def subgraph_processes(self) -> list[ManagedProcess]:
        """Every subgraph process started: the shared one (if any), then the others."""
        return [*([self.host] if self.host is not None else []), *self.subgraphs.values()]

    def own_process(self, name: str, timeout: float = 60.0) -> ManagedProcess:
        """The process that serves `name` alone, for a test that kills it: a subgraph the
        shared process serves is stopped there and started as a process of its own."""
        own = self.subgraphs.get(name)
        if own is None or not own.running():
            self.stop_subgraph(name)
            self.start_subgraph(name, timeout)
        return self.subgraphs[name]

    def stop_subgraph(self, name: str) -> None:
        """Stop one subgraph if it runs (in the shared process, only that subgraph)."""
        if self.host is not None and name in self.host.serving:
            self.host.stop_serving(name)
            if not self.host.serving:
                self.host.stop(grace=10.0)
                self.host = None
            return
        process = self.subgraphs.pop(name, None)
        if process is not None:
            process.stop(grace=10.0)

    def _spawn_subgraph(
        self, name: str, app: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        if self.process_of(name) is not None:
            return
        port = self.subgraph_ports[name]
        ensure_port_free(port, f"subgraph {name}", "free the port or stop what runs there")
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            app or f"subgraphs.{name}.app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--http",
            protocols.HTTP,
            "--ws",
            protocols.WEBSOCKET,
        ]
        self.subgraphs[name] = ManagedProcess(
            name,
            argv,
            log_path=self.log_dir / f"{name}.log",
            env={**self.subgraph_env(), "KINDRED_PORT": str(port), **(env or {})},
            cwd=self.repo_root,
            echo=self.echo,
        )

    def _wait_healthy(self, name: str, timeout: float) -> None:
        port = self.subgraph_ports[name]
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{port}/health"),
            timeout=timeout,
            process=self.process_of(name) or self.subgraphs.get(name) or self.host,
            what=f"subgraph {name} answering GET /health with 200 on port {port}",
        )

    # -- gateway ----------------------------------------------------------------------

    def supergraph_path(self) -> Path:
        """The composed supergraph the gateway serves, rewritten if our ports differ."""
        source = self.repo_root / "supergraph.graphql"
        if not source.is_file():
            raise StartupError(f"{source} is missing; run `make compose` to compose it")
        changed = {
            name: port
            for name, port in self.subgraph_ports.items()
            if self.declared_ports.get(name) != port
        }
        if not changed:
            return source
        return render_supergraph(source, self.subgraph_ports, self.data_dir / "gateway")

    def start_gateway(
        self, engine: str | None = None, *, edge: str | None = "", timeout: float = 90.0
    ) -> None:
        """Start the gateway and return once its readiness check answers 200: the engine
        (`KINDRED_GATEWAY`, grafbase by default) and the edge in front of it on the public
        port (`edge`: "guard" or "node"; `KINDRED_EDGE` when ""). With edge None the engine
        takes the public port (the benchmark measures engines alone so)."""
        if self.gateway is not None and self.gateway.running():
            return
        router = self.repo_root / "router"
        engine = engine or engine_from_env()
        if edge == "":
            edge = edge_from_env()
        ensure_port_free(self.gateway_port, "the gateway", "free the port")
        engine_port = free_port() if edge else self.gateway_port
        supergraph = self.supergraph_path()
        schemas = subgraph_schema_files(self.repo_root / "supergraph.yaml")
        launch = engine_launch(
            engine,
            router=router,
            work_dir=self.data_dir / "gateway" / engine,
            port=engine_port,
            supergraph=supergraph,
            subgraphs={
                name: (f"{self.subgraph_url(name)}/graphql", schemas[name])
                for name in self.subgraph_ports
            },
            dedup=os.environ.get("KINDRED_GATEWAY_DEDUP") != "0",
            threads=threads_from_env(),
        )
        self.engine = ManagedProcess(
            engine,
            launch.argv,
            log_path=self.log_dir / f"gateway-{engine}.log",
            env={**os.environ, **launch.env},
            cwd=router,
            echo=self.echo,
        )
        # The engine's own GraphQL endpoint (behind the edge, or the public one without it).
        self.engine_url = f"http://127.0.0.1:{engine_port}{launch.graphql_path}"
        engine_health = f"http://127.0.0.1:{engine_port}{launch.health_path}"
        wait_until(
            lambda: http_ok(engine_health),
            timeout=timeout,
            process=self.engine,
            what=f"the {engine} gateway answering {engine_health} with 200",
        )
        self._engine_launch = (engine, engine_port, launch, supergraph)
        if not edge:
            self.gateway = self.engine
            return
        self.gateway = self.start_edge(edge, self.gateway_port, timeout=timeout)

    def start_edge(self, edge: str, port: int, *, timeout: float = 90.0) -> ManagedProcess:
        """Start an edge ("guard" or "node") on `port` in front of the running engine and
        return it once its readiness check answers 200."""
        assert self._engine_launch is not None, "start the gateway's engine first"
        engine, engine_port, launch, supergraph = self._engine_launch
        router = self.repo_root / "router"
        schema = api_schema(router, supergraph, self.data_dir / "gateway" / "api.graphql")
        otlp = f"{self.trace_store_url}/v1/traces" if self.trace_store_url else None
        if edge == "guard":
            introspection = introspection_of(router, schema, schema.with_suffix(".json"))
            argv = guard_argv(
                router, port, introspection, engine_port, launch, engine=engine, otlp_url=otlp
            )
        else:
            argv = edge_argv(
                router, port, schema, engine_port, launch, engine=engine, otlp_url=otlp
            )
        process = ManagedProcess(
            edge, argv, log_path=self.log_dir / f"{edge}.log", cwd=router, echo=self.echo
        )
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{port}/readiness"),
            timeout=timeout,
            process=process,
            what=f"the {edge} edge answering GET /readiness with 200 on port {port}",
        )
        return process

    def gateway_processes(self) -> list[ManagedProcess]:
        """The gateway's processes: the edge and the engine (one, without the edge)."""
        return list({id(p): p for p in (self.gateway, self.engine) if p is not None}.values())

    def stop_gateway(self) -> None:
        """Stop the gateway (edge and engine) if it runs."""
        for process in self.gateway_processes():
            process.stop(grace=10.0)
        self.gateway = self.engine = None
        self._engine_launch = None

    # -- all --------------------------------------------------------------------------

    def start(self) -> None:
        """Start everything: infrastructure, every subgraph, then the gateway."""
        self.start_infra()
        self.start_subgraphs()
        self.start_gateway()

    def stop(self) -> None:
        """Stop everything that runs, in reverse start order; never raises for one part."""
        steps: list[Callable[[], None]] = [self.stop_gateway]
        steps += [partial(self.stop_subgraph, name) for name in reversed(list(self.subgraphs))]
        steps.append(self._stop_host)
        parts = (self.broker, self.redis, self.postgres, self.trace_store)
        steps += [part.stop for part in parts if part]
        for step in steps:
            try:
                step()
            except Exception as exc:  # keep stopping the rest
                print(f"[devstack] while stopping: {exc!r}", file=sys.stderr)

    def _stop_host(self) -> None:
        # Its subgraphs shut down side by side, each as on a SIGTERM of its own.
        if self.host is not None:
            self.host.stop(grace=15.0)
            self.host = None

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def subgraph_ports_of(repo_root: Path) -> dict[str, int]:
    """Subgraph names and ports declared in the repo's supergraph.yaml."""
    return subgraph_ports(repo_root / "supergraph.yaml")
