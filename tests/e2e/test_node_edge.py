"""The Node edge (router/edge/, `KINDRED_EDGE=node`), started in front of the same engine
as the default guard: the GraphQL-over-HTTP audit, a member's cross-subgraph query, and a
document that would abort grafbase, so the edge that is not the default keeps working."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from kindred.devstack.process import free_port
from kindred.devstack.stack import Stack
from tests.support import assert_http_audit_passes, error_codes, gql, register


@pytest.fixture(scope="module")
def node_edge_url(stack: Stack) -> Iterator[str]:
    port = free_port()
    process = stack.start_edge("node", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop(grace=5.0)


@pytest.fixture
async def node_edge(node_edge_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=node_edge_url, timeout=15.0) as client:
        yield client


def test_the_graphql_over_http_audit_passes_on_the_node_edge(node_edge_url: str) -> None:
    assert_http_audit_passes(f"{node_edge_url}/graphql")


async def test_a_member_reads_across_subgraphs_through_the_node_edge(
    node_edge: httpx.AsyncClient,
) -> None:
    member = await register(node_edge)
    joined = await gql(
        node_edge, "mutation { joinQueue { syncedVersion } }", token=member.access_token
    )
    assert "errors" not in joined, joined
    body = await gql(
        node_edge, "{ me { displayName queueEntry { syncedVersion } } }", token=member.access_token
    )
    assert body["data"]["me"] == {"displayName": "Robin", "queueEntry": {"syncedVersion": 1}}, body


async def test_a_fragment_cycle_is_refused_by_the_node_edge(
    stack: Stack, node_edge: httpx.AsyncClient
) -> None:
    body = await gql(node_edge, "query { ...A } fragment A on Query { ...A }")
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"], body
    assert stack.engine is not None and stack.engine.running()
