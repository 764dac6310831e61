"""`GET /metrics` scrape time and size per subgraph, and what recording costs a request.

Starts every subgraph of supergraph.yaml on a private stack, waits for the consumers to
join their groups, sends each subgraph a little GraphQL traffic (named, anonymous and
refused requests, so the request and error families have series), then scrapes each
subgraph's `/metrics` N times in a row over HTTP, as Prometheus would: the time of each
scrape (the outbox query and the consumer's lag are read then), its size and its samples.
Last, in this process, the per-request cost of the recording itself (one counter increment
and one histogram observation, by operation).

    python -m bench.metrics_scrape [--scrapes 200]
"""

from __future__ import annotations

import argparse
import time
import timeit
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.support import print_table, private_stack, progress, save_results, summary_ms
from kindred.devstack.stack import Stack
from kindred.metrics import Metrics

NAME = "metrics_scrape"
WARM_UP_SCRAPES = 10
TRAFFIC = [
    {"query": "query MetricsBench { __typename }"},
    {"query": "{ __typename }"},
    {"query": "{ __typename"},  # GRAPHQL_PARSE_FAILED
    {"query": "query Invalid { noSuchField }"},  # GRAPHQL_VALIDATION_FAILED
]


def wait_for_consumers(client: httpx.Client, stack: Stack, within: float = 120.0) -> None:
    """Until every subgraph with a consumer has its partitions (lag reads them)."""
    deadline = time.monotonic() + within
    waiting = list(stack.subgraph_ports)
    while waiting and time.monotonic() < deadline:
        health = client.get(f"{stack.subgraph_url(waiting[0])}/health").json()
        if health.get("consumer", "assigned") == "assigned":
            waiting.pop(0)
        else:
            time.sleep(0.5)
    if waiting:
        progress(f"consumers still joining after {within:.0f} s: {', '.join(waiting)}")


def scrape_all(stack: Stack, scrapes: int) -> dict[str, dict[str, Any]]:
    measured: dict[str, dict[str, Any]] = {}
    with httpx.Client(timeout=10.0) as client:
        progress("waiting for the consumers to join their groups")
        wait_for_consumers(client, stack)
        for name in stack.subgraph_ports:
            url = stack.subgraph_url(name)
            for _ in range(5):
                for payload in TRAFFIC:
                    client.post(f"{url}/graphql", json=payload)
            for _ in range(WARM_UP_SCRAPES):
                client.get(f"{url}/metrics").raise_for_status()
            progress(f"{name}: {scrapes} scrapes")
            times_ms: list[float] = []
            body = ""
            for _ in range(scrapes):
                started = time.perf_counter()
                response = client.get(f"{url}/metrics")
                times_ms.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
                body = response.text
            families = list(text_string_to_metric_families(body))
            measured[name] = {
                "scrape_ms": summary_ms(times_ms),
                "bytes": len(body.encode()),
                "families": len(families),
                "samples": sum(len(family.samples) for family in families),
                "consumer_lag_series": sum(
                    len(family.samples)
                    for family in families
                    if family.name == "kindred_consumer_lag"
                ),
            }
    return measured


def recording_cost_us(calls: int = 200_000) -> dict[str, float]:
    """Microseconds per call of what a request records, in this process."""
    metrics = Metrics("bench")
    request = timeit.timeit(lambda: metrics.request("query", "MetricsBench", 0.004), number=calls)
    error = timeit.timeit(lambda: metrics.error("BAD_USER_INPUT"), number=calls)
    return {
        "request_us": round(request / calls * 1e6, 3),
        "error_us": round(error / calls * 1e6, 3),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics_scrape", description=__doc__)
    parser.add_argument("--scrapes", type=int, default=200, help="scrapes per subgraph (200)")
    args = parser.parse_args(argv)
    with private_stack(NAME) as stack:
        measured = scrape_all(stack, args.scrapes)
    cost = recording_cost_us()
    print_table(
        f"GET /metrics, {args.scrapes} sequential scrapes per subgraph (ms; size of the last)",
        ["subgraph", "p50", "p99", "max", "bytes", "samples", "lag series"],
        [
            [
                name,
                figures["scrape_ms"]["p50"],
                figures["scrape_ms"]["p99"],
                figures["scrape_ms"]["max"],
                figures["bytes"],
                figures["samples"],
                figures["consumer_lag_series"],
            ]
            for name, figures in measured.items()
        ],
    )
    print(
        f"recording per request: {cost['request_us']:.2f} µs (counter + histogram), "
        f"per error: {cost['error_us']:.2f} µs"
    )
    results = {"scrapes": args.scrapes, "subgraphs": measured, "recording": cost}
    save_results(NAME, results)
    return results


if __name__ == "__main__":
    main()
