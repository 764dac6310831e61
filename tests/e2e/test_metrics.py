"""The running system's `/metrics`: a sign-up through the gateway moves the user subgraph's
request and outbox figures and the queuing consumer's, and every consuming subgraph shows
its lag for each partition it was assigned."""

from __future__ import annotations

import importlib
import uuid
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from kindred.devstack.stack import Stack
from tests.communication_support import subscription
from tests.e2e.conftest import wait_for_consumer
from tests.support import eventually, register

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(stack: Stack, subgraph: str) -> Samples:
    async with httpx.AsyncClient(timeout=10.0) as client:
        response = await client.get(f"{stack.subgraph_url(subgraph)}/metrics")
    assert response.status_code == 200, response.text
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            assert sample.labels.get("subgraph") == subgraph, sample
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "subgraph"))
            samples[sample.name, labels] = sample.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(
        value
        for (sample, sample_labels), value in samples.items()
        if sample == name and all((k, v) in sample_labels for k, v in labels.items())
    )


async def test_a_sign_up_moves_requests_outbox_and_consumer_figures(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    user_before = await scrape(stack, "user")
    queuing_before = await scrape(stack, "queuing")
    topic = "user.profile.updated"

    await register(gateway, displayName="Metrics")

    user_after = await scrape(stack, "user")
    assert total(user_after, "kindred_graphql_requests_total", operation_type="mutation") > (
        total(user_before, "kindred_graphql_requests_total", operation_type="mutation")
    )
    # Another relay on the same database (the contract tests' in-process user subgraph, in
    # a full run) may publish the row first, so this process's published count need not
    # move: the backlog it reads from the table empties either way.
    await eventually(
        lambda: scrape(stack, "user"),
        lambda samples: (
            total(samples, "kindred_outbox_stats_up") == 1
            and total(samples, "kindred_outbox_pending_rows") == 0
        ),
        what="the profile event published",
    )
    handled = await eventually(
        lambda: scrape(stack, "queuing"),
        lambda samples: (
            total(samples, "kindred_consumer_events_total", topic=topic)
            > total(queuing_before, "kindred_consumer_events_total", topic=topic)
        ),
        what="the profile event consumed by queuing",
    )
    assert total(handled, "kindred_consumer_lag", topic=topic) >= 0


async def test_every_consuming_subgraph_shows_its_lag_per_assigned_partition(
    stack: Stack,
) -> None:
    for subgraph in stack.subgraph_ports:
        handlers: dict[str, Any] = importlib.import_module(
            f"subgraphs.{subgraph}.app"
        ).SUBGRAPH.handlers
        if not handlers:
            continue
        wait_for_consumer(stack, subgraph)
        samples = await eventually(
            lambda subgraph=subgraph: scrape(stack, subgraph),  # type: ignore[misc]
            lambda samples: any(name == "kindred_consumer_lag" for name, _ in samples),
            what=f"{subgraph}'s consumer lag",
        )
        lag = {
            dict(labels)["topic"]: value
            for (name, labels), value in samples.items()
            if name == "kindred_consumer_lag"
        }
        assert set(lag) <= set(handlers), (subgraph, lag)
        assert all(value >= 0 for value in lag.values()), (subgraph, lag)
        assert samples["kindred_outbox_stats_up", ()] == 1, subgraph


async def test_an_operation_over_websocket_counts_as_started(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    member = await register(gateway, displayName="Metrics")
    before = await scrape(stack, "communication")

    async with subscription(
        f"{stack.subgraph_url('communication')}/graphql",
        "subscription($c: ID!) { typing(conversationId: $c) { at } }",
        {"c": str(uuid.uuid4())},
        token=member.access_token,
    ) as live:
        answer = await live.next()
        assert answer["errors"][0]["extensions"]["code"] == "NOT_FOUND", answer

    after = await eventually(
        lambda: scrape(stack, "communication"),
        lambda samples: total(samples, "kindred_graphql_subscriptions_active") == 0,
        what="the subscription ended",
    )
    started = "kindred_graphql_subscriptions_started_total"
    assert total(after, started) == total(before, started) + 1


async def test_every_subgraph_froze_its_heap_once_started(stack: Stack) -> None:
    # kindred.heap: start-up's objects (modules, schema, pools: a couple of hundred
    # thousand) are frozen, so the collector's full passes skip them.
    for subgraph in stack.subgraph_ports:
        samples = await scrape(stack, subgraph)
        assert samples["kindred_heap_frozen_objects", ()] > 50_000, subgraph
        assert samples["kindred_gc_collections_total", (("generation", "0"),)] > 0, subgraph
