"""bench.gateway_vs_subgraph's rounds: each path keeps its median run, whole."""

from __future__ import annotations

from bench.gateway_vs_subgraph import median_run


def test_the_median_run_is_kept_with_its_own_figures_and_the_range_of_all() -> None:
    runs = [
        {"req_per_s": 1900.0, "p99_us": 30, "rss_idle_mb": 40.0, "rss_peak_mb": 50.0},
        {"req_per_s": 1300.0, "p99_us": 90, "rss_idle_mb": 41.0, "rss_peak_mb": 55.0},
        {"req_per_s": 1600.0, "p99_us": 40, "rss_idle_mb": 39.0, "rss_peak_mb": 49.0},
    ]
    chosen = median_run(runs)
    assert chosen["req_per_s"] == 1600.0 and chosen["p99_us"] == 40
    assert chosen["req_per_s_runs"] == [1900.0, 1300.0, 1600.0]
    assert (chosen["rss_idle_mb"], chosen["rss_peak_mb"]) == (41.0, 55.0)


def test_of_two_runs_the_slower_is_kept_and_one_run_is_itself() -> None:
    assert median_run([{"req_per_s": 2.0}, {"req_per_s": 1.0}])["req_per_s"] == 1.0
    only = median_run([{"req_per_s": 5.0, "p50_us": 7}])
    assert only == {"req_per_s": 5.0, "p50_us": 7, "req_per_s_runs": [5.0]}
