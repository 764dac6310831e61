"""Kindred's benchmarks: each starts its own stack on free ports, prints figures, saves JSON.

`python -m bench` runs them all; `python -m bench.<name>` runs one. They print numbers and
never assert on timings; the results land in bench/results/ (not committed).
"""
