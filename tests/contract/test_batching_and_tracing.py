"""Entity lookups are one SQL query for N users; a trace crosses HTTP into Kafka headers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import psycopg
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text

from kindred.context import RequestContext
from subgraphs.queuing import service
from subgraphs.queuing.schema import load_entry
from tests.contract.conftest import Served
from tests.support import gql, register


@contextmanager
def sql_statements() -> Iterator[list[str]]:
    """The SQL statements sent to PostgreSQL inside the block, whichever way they go (through
    SQLAlchemy or straight through the driver, as `Database.fetch` does)."""
    seen: list[str] = []
    original = psycopg.AsyncCursor.execute

    async def recording(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(str(query))
        return await original(cursor, query, *args, **kwargs)

    setattr(psycopg.AsyncCursor, "execute", recording)  # noqa: B010 (typed as overloads)
    try:
        yield seen
    finally:
        setattr(psycopg.AsyncCursor, "execute", original)  # noqa: B010


def _representations(ids: list[str]) -> dict[str, Any]:
    return {"representations": [{"__typename": "User", "id": id_} for id_ in ids]}


async def test_user_entities_for_many_users_cost_one_query(user_served: Served) -> None:
    members = [await register(user_served.client) for _ in range(12)]
    ids = [member.id for member in members]
    await user_served.platform.cache.invalidate(*(f"account:{id_}" for id_ in ids))
    query = "query($representations: [_Any!]!) { _entities(representations: $representations) { ... on User { id displayName } } }"  # noqa: E501
    with sql_statements() as statements:
        body = await gql(
            user_served.client, query, _representations(ids), token=members[0].access_token
        )
    assert [entity["id"] for entity in body["data"]["_entities"]] == ids
    # The outbox relay shares the engine; count only what reads accounts.
    reads = [s for s in statements if "FROM accounts" in s]
    assert len(reads) == 1, statements


async def test_queue_entries_for_many_users_cost_one_query(queuing_served: Served) -> None:
    # `queueEntry` is private to its member, so no one request asks for several; the
    # loader behind it is what the router's batched `_entities` calls go through.
    platform = queuing_served.platform
    context = RequestContext(request=None, platform=platform, identity=None)
    info = SimpleNamespace(context=context)
    queued = [uuid.uuid4() for _ in range(3)]
    async with platform.db.session() as session, session.begin():
        for index, user_id in enumerate(queued):
            snapshot = {
                "birthdate": "1990-01-01",
                "gender": "MAN",
                "latitude": None,
                "longitude": None,
                "interests": [f"i{index}"],
                "languages": [],
            }
            await service.join(session, user_id=user_id, version=1, snapshot=snapshot)
    ids = [*queued, *(uuid.uuid4() for _ in range(9))]
    with sql_statements() as statements:
        entries = await asyncio.gather(*(load_entry(info, user_id) for user_id in ids))  # type: ignore[arg-type]
    assert [entry.interests if entry else None for entry in entries] == [
        ["i0"],
        ["i1"],
        ["i2"],
        *([None] * 9),
    ]
    assert len([s for s in statements if "FROM queue_entries" in s]) == 1, statements


TRACED_UPDATE = 'mutation { updateProfile(expectedVersion: 1, input: {bio: "t"}) { version } }'


async def test_a_trace_continues_from_the_caller_into_the_outbox(user_served: Served) -> None:
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    member = await register(user_served.client)
    trace_id = uuid.uuid4().hex
    traceparent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
    response = await user_served.client.post(
        "/graphql",
        json={"query": TRACED_UPDATE},
        headers={**member.headers, "traceparent": traceparent},
    )
    assert response.json() == {"data": {"updateProfile": {"version": 2}}}
    server_spans = [s for s in exporter.get_finished_spans() if s.name == "POST /graphql"]
    assert any(format(s.context.trace_id, "032x") == trace_id for s in server_spans)

    async with user_served.platform.db.engine.connect() as connection:
        headers = (
            await connection.execute(
                text("SELECT headers FROM outbox WHERE key = :key ORDER BY id DESC LIMIT 1"),
                {"key": member.id},
            )
        ).scalar_one()
    assert headers["traceparent"].split("-")[1] == trace_id


async def test_a_request_without_trace_context_starts_a_trace_of_its_own(
    user_served: Served,
) -> None:
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # Even in a span of the caller's process: only headers carry a trace into a request.
    with trace.get_tracer("test").start_as_current_span("the caller's own work") as outer:
        response = await user_served.client.post("/graphql", json={"query": "{ __typename }"})
    assert response.json() == {"data": {"__typename": "Query"}}
    [server] = [s for s in exporter.get_finished_spans() if s.name == "POST /graphql"]
    assert server.parent is None
    assert server.context.trace_id != outer.get_span_context().trace_id
    assert dict(server.attributes or {}) == {
        "http.request.method": "POST",
        "url.path": "/graphql",
    }
