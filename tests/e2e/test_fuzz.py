"""Seeded random bad input (tests/fuzz.py) at the gateway and at every subgraph's own port:
no answer is a 5xx, a body that is not JSON, a refusal without coded errors or an internal
error, and every server is healthy after."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from graphql import build_client_schema, get_introspection_query

from kindred.devstack.stack import Stack
from tests.fuzz import payload_problem, problem, raw_requests, schema_queries
from tests.http_cases import send_raw
from tests.support import register

# Requests a port: enough to meet each kind of input many times over, seconds each.
RAW_REQUESTS = 400
SCHEMA_QUERIES = 600


def _ports(stack: Stack) -> dict[str, tuple[int, str]]:
    """Each port, with the path that says it is healthy."""
    subgraphs = {name: (port, "/health") for name, port in stack.subgraph_ports.items()}
    return {"gateway": (stack.gateway_port, "/readiness"), **subgraphs}


def _problems_at(name: str, port: int, health: str, seed: int, token: str) -> dict[str, str]:
    problems: dict[str, str] = {}
    for method, request in raw_requests(f"{seed}-{name}", RAW_REQUESTS, port, token):
        found = problem(method, send_raw(port, request))
        if found is not None:
            problems.setdefault(f"{name}: {found[:60]}", f"{found}\n  {request[:300]!r}")
    healthy = httpx.get(f"http://127.0.0.1:{port}{health}", timeout=10)
    if healthy.status_code != 200:
        problems[f"{name}: unhealthy"] = f"{name} after the requests: {healthy.text}"
    return problems


@pytest.mark.parametrize("seed", [1, 2])
async def test_malformed_requests_get_coded_json_at_every_port(
    stack: Stack, gateway: httpx.AsyncClient, seed: int
) -> None:
    token = (await register(gateway)).access_token
    problems: dict[str, str] = {}
    for name, (port, health) in _ports(stack).items():
        problems |= await asyncio.to_thread(_problems_at, name, port, health, seed, token)
    assert not problems, "\n".join(problems.values())


async def test_random_queries_of_the_schema_get_data_or_coded_errors(
    gateway: httpx.AsyncClient,
) -> None:
    token = (await register(gateway)).access_token
    headers = {"authorization": f"Bearer {token}"}
    introspected = await gateway.post(
        "/graphql", json={"query": get_introspection_query()}, headers=headers
    )
    schema = build_client_schema(introspected.json()["data"])
    problems: dict[str, str] = {}
    for body in schema_queries(schema, seed=7, count=SCHEMA_QUERIES):
        response = await gateway.post("/graphql", json=body, headers=headers)
        found = (
            f"{response.status_code}: {response.text[:200]}"
            if response.status_code >= 500
            else payload_problem(response.status_code, response.json())
        )
        if found is not None:
            problems.setdefault(found[:60], f"{found}\n  {body}")
    assert not problems, "\n".join(problems.values())
