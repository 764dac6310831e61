"""The whole system on free ports: both subgraphs as processes and Hive Gateway in front."""

from __future__ import annotations

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
    yield running


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
