"""bench.gateway_vs_subgraph's rounds (each path keeps its median run, whole) and its model
of what bounds each path."""

from __future__ import annotations

from bench.gateway_vs_subgraph import MACHINE, MODELLED_CORES, cpu_model, median_run


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


def test_the_model_on_more_cores_bounds_each_path_by_its_busiest_process() -> None:
    idle = {MACHINE: 200.0}
    direct = {
        "req_per_s": 4000.0,
        "idle_cpu_ms_per_s": idle,
        "cpu_ms_per_request": {"user": 0.23, "redis": 0.02, "client": 0.05, "kernel, other": 0.1},
    }
    gateway = {
        "req_per_s": 1600.0,
        "idle_cpu_ms_per_s": idle,
        "cpu_ms_per_request": {
            "gateway": 0.17,
            "user": 0.30,
            "queuing": 0.37,
            "redis": 0.04,
            "client": 0.04,
            "kernel, other": 0.2,
        },
    }
    model = cpu_model({"direct (before)": direct, "grafbase": gateway, "direct (after)": direct})
    # On 4 cores the direct path is its one process (1 / 0.23 ms), the gateway path its
    # busiest, queuing (1 / 0.37 ms), the machine (3.8 cores / 1.12 ms) has room for both.
    on_more = model["grafbase"][f"modelled_ratio_on_{MODELLED_CORES}_cores"]
    assert on_more == round(0.23 / 0.37, 3)
