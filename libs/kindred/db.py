"""A subgraph's database: async engine, sessions and the unit of work."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import psycopg
from opentelemetry import trace
from psycopg.rows import namedtuple_row
from sqlalchemy import Executable, func, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from kindred.events import Event
from kindred.outbox import OUTBOX_CHANNEL, write_to_outbox
from kindred.telemetry import current_trace_headers, tracer


def driver_url(url: str, driver: str = "psycopg") -> str:
    """`postgresql://…` with SQLAlchemy's driver name spelled in, as both engines need."""
    scheme, rest = url.split("://", 1)
    return f"postgresql+{driver}://{rest}" if scheme in {"postgresql", "postgres"} else url


def refused_nul(error: BaseException) -> bool:
    """Whether `error` is PostgreSQL (or its driver) refusing text with a NUL character
    (U+0000), which no text or jsonb value holds: the client's input, not a fault."""
    cause = getattr(error, "orig", error)  # SQLAlchemy wraps the driver's error
    if isinstance(cause, psycopg.errors.UntranslatableCharacter):  # `\u0000` in jsonb
        return True
    return isinstance(cause, psycopg.DataError) and "NUL (0x00)" in str(cause)


@functools.cache
def _driver_sql(statement: Executable) -> str:
    """A statement as PostgreSQL SQL with `%(name)s` parameters, compiled once."""
    return str(statement.compile(dialect=postgresql.dialect()))  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class PoolStatus:
    """How the database's connections are used now (for metrics)."""

    size: int
    checked_out: int
    overflow: int
    hot_reads_open: int
    hot_reads_in_use: int


class Database:
    """One connection pool to one subgraph's database."""

    def __init__(self, url: str, *, pool_size: int = 20, max_overflow: int = 0) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(
            driver_url(url), pool_size=pool_size, max_overflow=max_overflow
        )
        self.sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        # Same pool; no BEGIN/ROLLBACK around a lone SELECT, so one round trip per read.
        self._reads = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._hot_reads = _HotReads(url)

    def session(self) -> AsyncSession:
        return self.sessions()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for single-statement reads, outside any transaction."""
        async with self._reads.connect() as connection:
            yield connection

    async def fetch(self, statement: Executable, parameters: Mapping[str, Any]) -> list[Any]:
        """The rows of one read, sent straight through the driver on a connection of
        `_HotReads` (a prepared statement, no SQLAlchemy result processing): for the hottest
        reads only. Rows are named tuples with the statement's column labels."""
        sql = _driver_sql(statement)
        async with self._hot_reads.connection() as connection:
            async with connection.cursor(row_factory=namedtuple_row) as cursor:
                await cursor.execute(sql, parameters, prepare=True)
                return await cursor.fetchall()

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self)

    def pool_status(self) -> PoolStatus:
        pool: Any = self.engine.pool  # a QueuePool: size, checkedout, overflow
        return PoolStatus(
            size=pool.size(),
            checked_out=pool.checkedout(),
            overflow=pool.overflow(),
            hot_reads_open=self._hot_reads.in_use + self._hot_reads.idle,
            hot_reads_in_use=self._hot_reads.in_use,
        )

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self._hot_reads.close()
        await self.engine.dispose()


class _HotReads:
    """A few autocommit driver connections for `Database.fetch`, beside SQLAlchemy's pool.

    Checking a connection out of SQLAlchemy's pool switches it to autocommit and back
    every time, which cost a sixth of a subgraph's CPU on its hottest read; these stay in
    autocommit and keep their prepared statements. Opened on demand, at most `size`."""

    def __init__(self, url: str, size: int = 4) -> None:
        self._url = url
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._slots = asyncio.Semaphore(size)
        self.in_use = 0

    @property
    def idle(self) -> int:
        return len(self._idle)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        async with self._slots:
            connection = self._idle.pop() if self._idle else await self._connect()
            self.in_use += 1
            try:
                yield connection
            except BaseException:
                # Perhaps cut off mid-protocol (a cancelled read): never reuse it.
                await connection.close()
                raise
            finally:
                self.in_use -= 1
            if connection.closed:
                return
            self._idle.append(connection)

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        # The database's own URL, as the outbox relay's LISTEN connection uses it.
        return await psycopg.AsyncConnection.connect(self._url, autocommit=True)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.close()


class UnitOfWork:
    """A transaction that also records the events it raised in the outbox.

    Rolls back unless `commit()` was called; the change and its outbox rows are
    committed together, so a change is published if and only if it happened.
    """

    def __init__(self, database: Database) -> None:
        self._database = database
        self._events: list[tuple[Event, dict[str, str]]] = []
        self.session: AsyncSession

    async def __aenter__(self) -> Self:
        self.session = self._database.session()
        await self.session.begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if self.session.in_transaction():
                await self.session.rollback()
        finally:
            await self.session.close()

    def publish(self, event: Event) -> None:
        """Queues `event`, with the trace it is raised in, for this transaction's outbox."""
        self._events.append((event, current_trace_headers()))

    async def commit(self) -> None:
        if self._events:
            if trace.get_current_span().is_recording():
                # A traced request: the rows carry the outbox write's span, so the relay's
                # publish (and the consumer after it) follow it in the trace.
                with tracer.start_as_current_span("outbox write") as span:
                    span.set_attribute("messaging.batch.message_count", len(self._events))
                    span.set_attribute(
                        "kindred.outbox.topics", sorted({e.topic for e, _ in self._events})
                    )
                    here = current_trace_headers()
                    events = [(event, here if headers else {}) for event, headers in self._events]
                    await write_to_outbox(self.session, events)
            else:
                await write_to_outbox(self.session, self._events)
            # Delivered by PostgreSQL only when the transaction commits: wakes the relay.
            await self.session.exec(select(func.pg_notify(OUTBOX_CHANNEL, "")))
            self._events = []
        await self.session.commit()
