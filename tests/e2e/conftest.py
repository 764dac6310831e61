"""The whole system on free ports: every subgraph and the gateway in front.

The subgraphs run as `make dev` runs them: all in one process (lighter and quicker to
start on two cores), or one process each with KINDRED_DEV_PROCESSES=separate. A test that
kills or restarts one subgraph gets it in a process of its own first (`stop_subgraph` and
`start_subgraph`, or `Stack.own_process`), so the others keep running."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import psycopg
import pytest

from kindred.devstack.stack import Stack


@pytest.fixture(scope="session")
def stack(infra: Any) -> Iterator[Stack]:
    """The running stack; the `infra` fixture stops it at the end of the session."""
    if infra.stack is None:
        pytest.skip("end-to-end tests start their own subgraphs and gateway (embedded infra)")
    running: Stack = infra.stack
    running.start_subgraphs()
    running.start_gateway()
    wait_for_consumer(running, "queuing")
    yield running


def wait_for_consumer(stack: Stack, subgraph: str, within: float = 90.0) -> None:
    """Blocks until the subgraph's event consumer has its partitions (a group join is slow)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        health = httpx.get(f"{stack.subgraph_url(subgraph)}/health", timeout=5).json()
        if health.get("consumer") == "assigned":
            return
        time.sleep(0.2)
    raise AssertionError(f"the {subgraph} consumer got no partitions within {within} s")


@pytest.fixture
async def gateway(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=15.0) as client:
        yield client


@pytest.fixture
def queuing_db(infra: Any) -> Iterator[psycopg.Connection[Any]]:
    """A direct connection to the queuing database, to check rows behind the answers."""
    with psycopg.connect(infra.database_url("queuing_db"), autocommit=True) as connection:
        yield connection


@pytest.fixture
def user_db(infra: Any) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(infra.database_url("user_db"), autocommit=True) as connection:
        yield connection
