"""One trace from the client through the gateway, the subgraphs, the outbox, Kafka and a
consumer, kept by the dev stack's trace store and read back with `kindred trace`."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from kindred.cli import main as kindred
from kindred.devstack.stack import Stack
from tests.support import eventually, register

CROSS_SUBGRAPH = "query Mine { me { displayName queueEntry { age syncedVersion } } }"
UPDATE_BIO = (
    'mutation UpdateBio { updateProfile(input: {bio: "traced"}, expectedVersion: 1) { version } }'
)


def _spans(stack: Stack, trace_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{stack.trace_store_url}/api/traces/{trace_id}", timeout=5)
    return list(answer.json()["spans"]) if answer.status_code == 200 else []


def _descendants(spans: list[dict[str, Any]], root: dict[str, Any]) -> list[dict[str, Any]]:
    """`root` and every span under it."""
    found, frontier = [root], [root["spanId"]]
    while frontier:
        parent = frontier.pop()
        for span in spans:
            if span["parentSpanId"] == parent:
                found.append(span)
                frontier.append(span["spanId"])
    return found


def _one(spans: list[dict[str, Any]], **match: str) -> dict[str, Any]:
    found = [s for s in spans if all(s[key] == value for key, value in match.items())]
    assert len(found) == 1, (match, [(s["service"], s["name"]) for s in spans])
    return found[0]


async def test_one_trace_joins_the_gateway_the_subgraphs_the_outbox_kafka_and_a_consumer(
    stack: Stack, gateway: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stack.trace_store_url, "the test stack runs a trace store"
    member = await register(gateway)
    joined = await gateway.post(
        "/graphql", json={"query": "mutation { joinQueue { age } }"}, headers=member.headers
    )
    assert "errors" not in joined.json(), joined.text

    # Two requests of one client operation (its span ids A and B) in one trace.
    trace_id = uuid.uuid4().hex
    client_spans = {"query": uuid.uuid4().hex[:16], "mutation": uuid.uuid4().hex[:16]}
    for kind, document in (("query", CROSS_SUBGRAPH), ("mutation", UPDATE_BIO)):
        answer = await gateway.post(
            "/graphql",
            json={"query": document},
            headers={**member.headers, "traceparent": f"00-{trace_id}-{client_spans[kind]}-01"},
        )
        assert "errors" not in answer.json(), answer.text

    consumed = "consume user.profile.updated"
    expected = {("kindred-queuing", consumed), ("kindred-gateway", "query Mine")}
    expected.add(("kindred-gateway", "mutation UpdateBio"))

    def complete(found: list[dict[str, Any]]) -> bool:
        # Each process exports on its own schedule: wait for the last parent to arrive.
        ids = {s["spanId"] for s in found}
        orphans = [s for s in found if s["parentSpanId"] not in ids]
        return expected <= {(s["service"], s["name"]) for s in found} and len(orphans) == 2

    spans = await eventually(
        lambda: _spans(stack, trace_id),
        complete,
        within=30,
        what="the gateway's and the queuing consumer's spans, with every parent, in the store",
    )
    by_id = {span["spanId"]: span for span in spans}
    assert len(by_id) == len(spans), "span ids are unique"
    # Parent links intact: every span's parent is in the trace, but the two gateway spans
    # whose parents are the client's.
    orphans = [s for s in spans if s["parentSpanId"] not in by_id]
    assert sorted((s["service"], s["name"], s["parentSpanId"]) for s in orphans) == sorted(
        [
            ("kindred-gateway", "query Mine", client_spans["query"]),
            ("kindred-gateway", "mutation UpdateBio", client_spans["mutation"]),
        ]
    )

    # The query: the gateway, its engine call, then both subgraphs under it.
    query_root = _one(orphans, name="query Mine")
    query_spans = _descendants(spans, query_root)
    engine_call = _one(query_spans, service="kindred-gateway", kind="client")
    assert engine_call["parentSpanId"] == query_root["spanId"]
    subgraph_servers = {
        s["service"] for s in query_spans if s["parentSpanId"] == engine_call["spanId"]
    }
    assert {"kindred-user", "kindred-queuing"} <= subgraph_servers, query_spans

    # The mutation: gateway → user → outbox write → relay's publish → queuing's consumer.
    mutation_spans = _descendants(spans, _one(orphans, name="mutation UpdateBio"))
    consume = _one(mutation_spans, service="kindred-queuing", name=consumed)
    publish = by_id[consume["parentSpanId"]]
    assert (publish["service"], publish["name"], publish["kind"]) == (
        "kindred-user",
        "publish user.profile.updated",
        "producer",
    )
    write = by_id[publish["parentSpanId"]]
    assert (write["service"], write["name"]) == ("kindred-user", "outbox write")
    user_server = by_id[write["parentSpanId"]]
    assert (user_server["service"], user_server["kind"]) == ("kindred-user", "server")
    assert by_id[user_server["parentSpanId"]]["service"] == "kindred-gateway"
    assert (
        consume["attributes"]["messaging.message.id"]
        == publish["attributes"]["messaging.message.id"]
    )

    # The figure for the README: spans of one cross-subgraph request (-s shows it).
    with capsys.disabled():
        print(f"\nspans per cross-subgraph request (me + queueEntry): {len(query_spans)}")

    capsys.readouterr()
    assert kindred(["trace", trace_id, "--store", stack.trace_store_url]) == 0
    printed = capsys.readouterr().out
    with capsys.disabled():
        print(printed)
    for name in ("query Mine", "mutation UpdateBio", "outbox write", "publish user.profile"):
        assert name in printed, printed
    assert consumed in printed and "kindred-queuing" in printed, printed
    # One line per span, under a two-line header.
    assert len(printed.strip().splitlines()) == len(spans) + 2, printed

    assert kindred(["trace", "--recent", "--store", stack.trace_store_url]) == 0
    assert trace_id in capsys.readouterr().out


async def test_kindred_trace_says_what_to_do_when_the_trace_is_not_there(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert kindred(["trace", uuid.uuid4().hex, "--store", str(stack.trace_store_url)]) == 1
    assert "kindred trace --recent" in capsys.readouterr().err
    assert kindred(["trace", "not-a-trace-id", "--store", str(stack.trace_store_url)]) == 2
