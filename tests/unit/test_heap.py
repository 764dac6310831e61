"""kindred.heap, in a process of its own (freezing the test process's heap would keep its
garbage for good)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import gc
import weakref
from kindred import heap

class Node:
    def __init__(self):
        self.me = self

started_with = gc.get_freeze_count()
kept = [Node() for _ in range(1000)]
left_behind = weakref.ref(Node())  # a cycle start-up dropped: collected, not frozen
frozen = heap.settle()
print(started_with, frozen, heap.frozen_objects(), gc.get_threshold()[0])
print(sum(isinstance(o, Node) for o in gc.get_objects()), left_behind() is None)
"""


def test_settle_freezes_what_start_up_built_and_widens_the_youngest_generation() -> None:
    lines = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    started_with, frozen, reported, threshold = map(int, lines[0].split())
    assert started_with == 0
    assert frozen >= 1000 and reported == frozen
    assert threshold == 10_000
    tracked_nodes, collected = lines[1].split()
    assert tracked_nodes == "0"  # frozen: out of the collector's sight
    assert collected == "True"
