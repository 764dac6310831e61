"""`python -m bench`: every benchmark in turn, each on its own stack."""

from __future__ import annotations

import sys

from bench import (
    chat_latency,
    devstack_footprint,
    entities_batch,
    gateway_vs_subgraph,
    match_to_notifications,
    matcher,
    metrics_scrape,
    propagation_lag,
)


def main() -> None:
    if len(sys.argv) > 1:
        sys.exit("usage: python -m bench  (or python -m bench.<name> --help for one)")
    for benchmark in (
        propagation_lag,
        gateway_vs_subgraph,
        entities_batch,
        matcher,
        chat_latency,
        match_to_notifications,
        metrics_scrape,
        devstack_footprint,
    ):
        print(f"\n=== {benchmark.NAME} ===", flush=True)
        benchmark.main([])


if __name__ == "__main__":
    main()
