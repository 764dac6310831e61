"""Shared fixtures: real PostgreSQL, Redis and Kafka-protocol broker for the test session.

`infra` starts them (on free ports, data in a temporary folder) the first time a test asks
for it and stops them at the end of the session. To run against servers that already run
(say `make dev`), pass `--infra=external` or set KINDRED_TEST_INFRA=external: the
fixture then reads KINDRED_POSTGRES_URL, KINDRED_REDIS_URL and KINDRED_KAFKA_BOOTSTRAP.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kindred.devstack.broker import create_topics, run_coroutine
from kindred.devstack.postgres import create_databases, database_url
from kindred.devstack.process import free_port
from kindred.devstack.stack import Stack, database_name
from kindred.devstack.supergraph import subgraph_ports

REPO_ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--infra",
        choices=["embedded", "external"],
        default=os.environ.get("KINDRED_TEST_INFRA", "embedded"),
        help="embedded: start PostgreSQL/Redis/Tansu for the session (default); "
        "external: use KINDRED_POSTGRES_URL, KINDRED_REDIS_URL, KINDRED_KAFKA_BOOTSTRAP",
    )


@dataclass
class Infra:
    """Where the session's servers listen, and control over the ones we started."""

    postgres_url: str
    redis_url: str
    kafka_bootstrap: str
    stack: Stack | None = None
    databases: list[str] = field(default_factory=list)

    def database_url(self, name: str) -> str:
        """The URL of one database, e.g. infra.database_url("user_db")."""
        return database_url(self.postgres_url, name)

    @property
    def owns_redis(self) -> bool:
        """True when this session started Redis and so may stop and restart it."""
        return self.stack is not None and self.stack.redis is not None

    def stop_redis(self) -> None:
        """Stop Redis (its port stays reserved for start_redis)."""
        if not self.owns_redis:
            pytest.skip("Redis is external; this test needs to stop it")
        self.stack.redis.stop()  # type: ignore[union-attr]

    def start_redis(self) -> None:
        """Start Redis again on the same port (empty: it is a cache)."""
        if not self.owns_redis:
            pytest.skip("Redis is external; this test needs to start it")
        self.stack.redis.start()  # type: ignore[union-attr]


def _external_infra(databases: list[str]) -> Infra:
    missing = [
        name
        for name in ("KINDRED_POSTGRES_URL", "KINDRED_REDIS_URL", "KINDRED_KAFKA_BOOTSTRAP")
        if not os.environ.get(name)
    ]
    if missing:
        raise pytest.UsageError(f"--infra=external needs {', '.join(missing)} to be set")
    infra = Infra(
        postgres_url=os.environ["KINDRED_POSTGRES_URL"],
        redis_url=os.environ["KINDRED_REDIS_URL"],
        kafka_bootstrap=os.environ["KINDRED_KAFKA_BOOTSTRAP"],
        databases=databases,
    )
    create_databases(infra.postgres_url, databases)
    run_coroutine(create_topics(infra.kafka_bootstrap))
    return infra


@pytest.fixture(scope="session")
def infra(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Infra]:
    """PostgreSQL with every subgraph's database, Redis, and a broker with every topic."""
    if request.config.getoption("--infra") == "external":
        stack_databases = [database_name(name) for name in _declared_subgraphs()]
        yield _external_infra(stack_databases)
        return
    # Tests kill subgraphs on purpose; a killed consumer's place in its group is given back
    # after its session times out, and every restart waits for that: shorter than the
    # production default (30 s), as long as two missed heartbeats on a busy 2-core machine.
    os.environ.setdefault("KINDRED_CONSUMER_SESSION_TIMEOUT_MS", "10000")
    stack = Stack(
        tmp_path_factory.mktemp("kindred"),
        postgres_port=free_port(),
        redis_port=free_port(),
        kafka_port=free_port(),
        subgraph_ports={name: free_port() for name in _declared_subgraphs()},
        gateway_port=free_port(),
        trace_store_port=free_port(),
        repo_root=REPO_ROOT,
        echo=False,  # pytest captures output; the logs are in <tmp>/kindred*/logs/
    )
    try:
        stack.start_infra()
        yield Infra(
            postgres_url=stack.postgres_url,
            redis_url=stack.redis_url,
            kafka_bootstrap=stack.kafka_bootstrap,
            stack=stack,
            databases=[database_name(name) for name in stack.subgraph_ports],
        )
    finally:
        stack.stop()


def _declared_subgraphs() -> list[str]:
    return list(subgraph_ports(REPO_ROOT / "supergraph.yaml"))
