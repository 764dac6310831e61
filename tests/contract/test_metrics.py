"""`GET /metrics` on every subgraph (every one declared in supergraph.yaml), in-process: the
Prometheus text format with the platform's metric families, each sample labelled with the
subgraph, and the figures move with what the subgraph does."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kindred.credentials import TokenIssuer
from kindred.devstack.supergraph import subgraph_ports
from kindred.limits import MAX_BODY_BYTES
from tests.contract.conftest import Served, serve_trusting

REPO_ROOT = Path(__file__).resolve().parents[2]
SUBGRAPHS = list(subgraph_ports(REPO_ROOT / "supergraph.yaml"))

# Every subgraph serves these (the consumer's only where it consumes: see the integration
# and end-to-end tests; the contract subgraphs run without one).
FAMILIES = {
    "kindred_graphql_requests": "counter",
    "kindred_graphql_request_duration_seconds": "histogram",
    "kindred_graphql_errors": "counter",
    "kindred_graphql_subscriptions_started": "counter",
    "kindred_graphql_subscriptions_active": "gauge",
    "kindred_outbox_stats_up": "gauge",
    "kindred_outbox_pending_rows": "gauge",
    "kindred_outbox_retrying_rows": "gauge",
    "kindred_outbox_oldest_pending_age_seconds": "gauge",
    "kindred_outbox_published": "counter",
    "kindred_outbox_failed": "counter",
    "kindred_cache_hits": "counter",
    "kindred_cache_misses": "counter",
    "kindred_db_pool_size": "gauge",
    "kindred_db_pool_checked_out": "gauge",
    "kindred_db_pool_overflow": "gauge",
    "kindred_db_hot_reads_open": "gauge",
    "kindred_db_hot_reads_in_use": "gauge",
    "kindred_heap_frozen_objects": "gauge",
    "kindred_gc_collections": "counter",
}


@pytest.fixture(scope="module", params=SUBGRAPHS)
async def served(
    request: pytest.FixtureRequest, infra: Any, contract_data_dir: Path, issuer: TokenIssuer
) -> AsyncIterator[Served]:
    """One subgraph at a time (no consumer, no background tasks), by its SUBGRAPH."""
    module = importlib.import_module(f"subgraphs.{request.param}.app")
    async with serve_trusting(
        module.SUBGRAPH, infra=infra, data_dir=contract_data_dir, issuer=issuer
    ) as served:
        yield served


async def scrape(client: httpx.AsyncClient) -> dict[str, Any]:
    """The metric families of one scrape, by name."""
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def value(families: dict[str, Any], sample_name: str, **labels: str) -> float:
    """The value of the one sample with that name and (at least) those labels; 0 if none."""
    matching = [
        sample.value
        for family in families.values()
        for sample in family.samples
        if sample.name == sample_name
        and all(sample.labels.get(key) == wanted for key, wanted in labels.items())
    ]
    assert len(matching) <= 1, f"{sample_name}{labels}: {matching}"
    return matching[0] if matching else 0.0


async def test_every_subgraph_serves_the_platform_families(served: Served) -> None:
    subgraph = served.platform.settings.subgraph
    await served.client.post("/graphql", json={"query": "{ __typename }"})

    families = await scrape(served.client)

    for name, kind in FAMILIES.items():
        assert name in families, f"{subgraph}: {name} missing from /metrics"
        assert families[name].type == kind, name
    for family in families.values():
        if family.name.startswith("kindred_"):
            for sample in family.samples:
                assert sample.labels.get("subgraph") == subgraph, sample
    assert value(families, "kindred_outbox_stats_up") == 1
    assert value(families, "kindred_db_pool_size") == served.platform.settings.db_pool_size
    assert value(families, "kindred_graphql_requests_total", operation_name="anonymous") >= 1


async def test_metrics_is_not_graphql_and_graphql_is_unchanged(served: Served) -> None:
    assert (await served.client.post("/metrics", content=b"{}")).status_code == 405
    response = await served.client.get("/graphql", params={"query": "{ __typename }"})
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_a_query_counts_under_its_operation_with_its_latency(served: Served) -> None:
    before = await scrape(served.client)
    labels = {"operation_type": "query", "operation_name": "MetricsProbe"}

    for _ in range(3):
        response = await served.client.post(
            "/graphql", json={"query": "query MetricsProbe { __typename }"}
        )
        assert response.json() == {"data": {"__typename": "Query"}}
    # Named by `operationName` among several operations: the one that ran counts.
    await served.client.post(
        "/graphql",
        json={
            "query": "query Other { __typename } query MetricsProbe { __typename }",
            "operationName": "MetricsProbe",
        },
    )

    after = await scrape(served.client)
    assert value(after, "kindred_graphql_requests_total", **labels) == (
        value(before, "kindred_graphql_requests_total", **labels) + 4
    )
    assert value(after, "kindred_graphql_request_duration_seconds_count", **labels) == (
        value(before, "kindred_graphql_request_duration_seconds_count", **labels) + 4
    )
    assert value(after, "kindred_graphql_request_duration_seconds_sum", **labels) > value(
        before, "kindred_graphql_request_duration_seconds_sum", **labels
    )


async def test_errors_count_by_their_code(served: Served) -> None:
    client = served.client
    before = await scrape(client)

    parse_failed = await client.post("/graphql", json={"query": "{ __typename"})
    invalid = await client.post("/graphql", json={"query": "query Bad { noSuchField }"})
    not_json = await client.post(
        "/graphql", content=b"{", headers={"content-type": "application/json"}
    )
    too_large = await client.post(
        "/graphql",
        content=b" " * (MAX_BODY_BYTES + 1),
        headers={"content-type": "application/json"},
    )
    assert parse_failed.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert invalid.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert not_json.status_code == 400 and too_large.status_code == 413

    after = await scrape(client)
    for code in ("GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "BAD_REQUEST"):
        assert value(after, "kindred_graphql_errors_total", code=code) == (
            value(before, "kindred_graphql_errors_total", code=code) + 1
        ), code
    code = "PAYLOAD_TOO_LARGE"
    assert value(after, "kindred_graphql_errors_total", code=code) == (
        value(before, "kindred_graphql_errors_total", code=code) + 1
    )
    # A document that did not parse names no operation; one that parsed does, valid or not.
    none = {"operation_type": "none", "operation_name": "anonymous"}
    assert value(after, "kindred_graphql_requests_total", **none) == (
        value(before, "kindred_graphql_requests_total", **none) + 3
    )
    bad = {"operation_type": "query", "operation_name": "Bad"}
    assert value(after, "kindred_graphql_requests_total", **bad) == (
        value(before, "kindred_graphql_requests_total", **bad) + 1
    )


async def test_a_cache_miss_then_a_hit_move_the_counters(served: Served) -> None:
    cache = served.platform.cache
    key = f"metrics-probe:{id(served)}"
    before = await scrape(served.client)

    assert await cache.get_many([key]) == {}
    await cache.add_many({key: b"cached"})
    assert await cache.get_many([key]) == {key: b"cached"}
    await cache.invalidate(key)

    after = await scrape(served.client)
    assert value(after, "kindred_cache_misses_total") == (
        value(before, "kindred_cache_misses_total") + 1
    )
    assert value(after, "kindred_cache_hits_total") == value(before, "kindred_cache_hits_total") + 1
