"""The garbage collector of a server process, settled once start-up is done.

A subgraph starts with about 200,000 objects that live as long as it does: modules, the
schema, pools. Requests leave reference cycles behind (graphql-core's execution, asyncio's
tasks), and the requests in flight when a collection runs survive it into the oldest
generation; so full collections come every few hundred requests, and each one walks every
object of the process, start-up's included: about 0.1 s during which no request moves.
Under load that was a third of a subgraph's CPU and every p99 over 100 ms.

`settle` collects what start-up left, then freezes what survives (`gc.freeze`): the
collector no longer walks it, so a full collection walks only what requests allocated. It
also makes the youngest generation larger, so fewer collections meet requests in flight.
`bench/gateway_vs_subgraph.py` measures the result (the README has the figures).
"""

from __future__ import annotations

import gc

# Allocations (less deallocations) between two collections of the youngest generation
# (CPython's default is 700).
YOUNGEST_GENERATION_THRESHOLD = 10_000


def settle() -> int:
    """Collects, freezes every object alive, and raises the youngest generation's
    threshold; the number of objects frozen so far."""
    gc.collect()
    gc.freeze()
    youngest, middle, oldest = gc.get_threshold()
    gc.set_threshold(max(youngest, YOUNGEST_GENERATION_THRESHOLD), middle, oldest)
    return gc.get_freeze_count()


def frozen_objects() -> int:
    """How many objects the collector no longer walks (see `settle`)."""
    return gc.get_freeze_count()
